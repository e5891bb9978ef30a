-- Places held at a session (store.occupancy, read under the program's lock at every
-- admission): counted from the held places alone. Without it the count reads every
-- patient's row of the session, waitlisted ones included: a group of 12 places with
-- 1,000 patients waitlisted read 1,000 rows a session, 50 sessions an admission.
CREATE INDEX patient_sessions_held ON patient_sessions (session_id)
    WHERE NOT waitlisted AND status <> 'cancelled';
