-- Progress, from sessions' and intake's events. Rows may arrive before the admission
-- does (topics are not ordered with each other), so nothing here references care_episodes.

CREATE TABLE session_attendance (
    patient_id       uuid NOT NULL,
    session_id       text NOT NULL,
    site_id          text NOT NULL,
    kind             text,
    modality         text,
    starts_at        timestamptz,
    held_on          date NOT NULL,
    duration_minutes integer,
    waitlisted       boolean NOT NULL DEFAULT false,
    status           text NOT NULL,
    late_minutes     integer NOT NULL DEFAULT 0,
    credited_minutes integer NOT NULL DEFAULT 0,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (patient_id, session_id)
);

CREATE TABLE outcome_measures (
    patient_id   uuid NOT NULL,
    measure_id   text NOT NULL,
    site_id      text NOT NULL,
    instrument   text NOT NULL,
    total        integer NOT NULL,
    item9        integer,
    measured_on  date NOT NULL,
    program_week integer NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (patient_id, measure_id)
);

CREATE TABLE risk_signals (
    event_id     text PRIMARY KEY,
    patient_id   uuid NOT NULL,
    site_id      text NOT NULL,
    signal       text NOT NULL,
    observed_on  date NOT NULL,
    raised_by    text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX risk_signals_patient ON risk_signals (patient_id, observed_on);

SELECT iopnet_confine_to_site('session_attendance');
SELECT iopnet_confine_to_site('outcome_measures');
SELECT iopnet_confine_to_site('risk_signals');
