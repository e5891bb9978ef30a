-- A group's session is one session id shared by every patient in the group: each patient
-- holds a row of their own. Keyed by the session alone, a second patient's schedule took
-- the first's row (its waitlist flag) and never got one; `iopctl projections rebuild
-- family scheduled_sessions` writes the rows that were lost that way.
ALTER TABLE scheduled_sessions DROP CONSTRAINT scheduled_sessions_pkey;
ALTER TABLE scheduled_sessions ADD PRIMARY KEY (patient_id, session_id);
