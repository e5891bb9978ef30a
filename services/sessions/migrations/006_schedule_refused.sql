-- ScheduleRefused: the program's groups could not make an IOP week (9 hours at least,
-- under 20) on the patient's days; what the latest refusal said, until a schedule is made.
ALTER TABLE enrollments ADD COLUMN schedule_refusal jsonb;
