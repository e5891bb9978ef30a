-- First come, first served: enrollments waiting for a schedule get places in the order
-- they enrolled, and a freed place at a group session goes to the earliest waitlisted.
-- clock_timestamp(), not now(): several patients are queued in one transaction.
ALTER TABLE enrollments ADD COLUMN enrolled_at timestamptz NOT NULL DEFAULT clock_timestamp();
ALTER TABLE patient_sessions ADD COLUMN waitlisted_since timestamptz;
CREATE INDEX patient_sessions_waitlist ON patient_sessions (session_id, waitlisted_since)
    WHERE status = 'waitlisted';
