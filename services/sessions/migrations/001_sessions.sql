-- Each site's programs and their recurring groups (local weekday and time, site time zone).
CREATE TABLE programs (
    site_id    text NOT NULL,
    program_id text NOT NULL,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, program_id)
);

CREATE TABLE program_groups (
    site_id          text NOT NULL,
    group_id         text NOT NULL,
    program_id       text NOT NULL,
    modality         text NOT NULL,
    clinician_id     text NOT NULL,
    weekday          integer NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    starts_at        time NOT NULL,
    duration_minutes integer NOT NULL CHECK (duration_minutes > 0),
    capacity         integer NOT NULL CHECK (capacity > 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, group_id),
    FOREIGN KEY (site_id, program_id) REFERENCES programs (site_id, program_id)
);
CREATE INDEX program_groups_program ON program_groups (site_id, program_id);

-- A patient's enrollment: the admission's terms, and where the enrollment stands.
-- (The first eight columns are the foundation's; later ones have defaults.)
CREATE TABLE enrollments (
    patient_id          uuid PRIMARY KEY,
    site_id             text NOT NULL,
    program_id          text NOT NULL,
    days_per_week       integer NOT NULL,
    weekly_hours_target integer NOT NULL,
    starts_on           date NOT NULL,
    ends_on             date NOT NULL,
    status              text NOT NULL,
    clinician_id        text,
    time_zone           text NOT NULL DEFAULT 'UTC',
    baseline_phq9       integer,
    ended_on            date,
    end_reason          text,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX enrollments_site ON enrollments (site_id, program_id);

-- Each patient's place at each session (a group occurrence is shared by its patients):
-- the read model of SessionScheduled / attendance / cancellations, and group occupancy.
CREATE TABLE patient_sessions (
    session_id       uuid NOT NULL,
    patient_id       uuid NOT NULL,
    site_id          text NOT NULL,
    kind             text NOT NULL,
    modality         text NOT NULL,
    group_id         text,
    starts_at        timestamptz NOT NULL,
    duration_minutes integer NOT NULL,
    clinician_id     text NOT NULL,
    waitlisted       boolean NOT NULL,
    status           text NOT NULL,
    late_minutes     integer NOT NULL DEFAULT 0,
    credited_minutes integer NOT NULL DEFAULT 0,
    PRIMARY KEY (session_id, patient_id)
);
CREATE INDEX patient_sessions_patient ON patient_sessions (patient_id, starts_at);
CREATE INDEX patient_sessions_group ON patient_sessions (site_id, group_id, starts_at);

-- The latest treatment plan plans told us of: sessions a week per modality.
CREATE TABLE treatment_plans (
    patient_id uuid PRIMARY KEY,
    site_id    text NOT NULL,
    plan_id    text NOT NULL,
    revision   integer NOT NULL,
    weekly     jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
