CREATE TABLE care_episodes (
    patient_id   uuid PRIMARY KEY,
    site_id      text NOT NULL,
    program_id   text NOT NULL,
    clinician_id text NOT NULL,
    starts_on    date NOT NULL,
    planned_end  date NOT NULL,
    plan_status  text NOT NULL
);
CREATE INDEX care_episodes_site ON care_episodes (site_id);
