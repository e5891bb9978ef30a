-- The initial assessment's instruments, with the raw responses (they stay in intake).
CREATE TABLE assessments (
    assessment_id uuid PRIMARY KEY,
    patient_id    uuid NOT NULL,
    site_id       text NOT NULL,
    instrument    text NOT NULL,
    responses     jsonb NOT NULL,
    total         integer NOT NULL,
    band          text NOT NULL,
    assessed_on   date NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX assessments_patient ON assessments (patient_id, instrument, recorded_at);
SELECT iopnet_confine_to_site('assessments');

ALTER TABLE patients ADD COLUMN decided_level text;
