CREATE TABLE enrollments (
    patient_id          uuid PRIMARY KEY,
    site_id             text NOT NULL,
    program_id          text NOT NULL,
    days_per_week       integer NOT NULL,
    weekly_hours_target integer NOT NULL,
    starts_on           date NOT NULL,
    ends_on             date NOT NULL,
    status              text NOT NULL
);
CREATE INDEX enrollments_site ON enrollments (site_id, program_id);
