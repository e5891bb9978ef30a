-- What sessions and plans tell family, kept only as far as a support person may be told of it.

-- The patient's sessions (from sessions' SessionScheduled / SessionsCancelled): time and kind.
CREATE TABLE scheduled_sessions (
    session_id       text PRIMARY KEY,
    patient_id       uuid NOT NULL,
    site_id          text NOT NULL,
    kind             text NOT NULL,
    starts_at        timestamptz NOT NULL,
    duration_minutes integer NOT NULL,
    waitlisted       boolean NOT NULL,
    cancelled        boolean NOT NULL DEFAULT false
);
CREATE INDEX scheduled_sessions_patient ON scheduled_sessions (patient_id, starts_at);

-- PHQ-9 totals (from sessions' OutcomeMeasured): inputs to the trend, never shown themselves.
CREATE TABLE phq9_measures (
    measure_id  text PRIMARY KEY,
    patient_id  uuid NOT NULL,
    site_id     text NOT NULL,
    total       integer NOT NULL,
    measured_on date NOT NULL,
    recorded_at timestamptz NOT NULL
);
CREATE INDEX phq9_measures_patient ON phq9_measures (patient_id, measured_on);

-- Where the patient's care stands (from PatientAdmitted and plans' SteppedDown / SteppedUp /
-- Discharged).
CREATE TABLE care_status (
    patient_id uuid PRIMARY KEY,
    site_id    text NOT NULL,
    status     text NOT NULL,
    since      date NOT NULL
);
