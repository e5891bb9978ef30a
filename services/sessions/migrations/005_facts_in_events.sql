-- Every fact is an event (programs, groups and enrollment terms are recorded as private
-- events; the tables are derived from them). Two columns did not fit that:
-- * the calendar job's progress is bookkeeping, not a fact of the enrollment: its own table;
-- * a plan revision is measured against the plan before it, which the derived copy of
--   the plan now keeps, so the reaction to a revision needs nothing else.
CREATE TABLE week_reviews (
    patient_id  uuid PRIMARY KEY,
    reviewed_on date NOT NULL
);
INSERT INTO week_reviews (patient_id, reviewed_on)
    SELECT patient_id, weeks_reviewed_on FROM enrollments WHERE weeks_reviewed_on IS NOT NULL;
DROP INDEX enrollments_week_review;
ALTER TABLE enrollments DROP COLUMN weeks_reviewed_on;

ALTER TABLE treatment_plans ADD COLUMN weekly_before jsonb;
