-- An assessment's row comes from AssessmentRecorded and its answers from the private
-- AssessmentAnswered that follows it (sealed: it reads as nothing once forgotten).
ALTER TABLE assessments ALTER COLUMN responses DROP NOT NULL;
