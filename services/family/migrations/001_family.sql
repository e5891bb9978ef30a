-- A patient's family circle, opened on admission; baseline PHQ-9 anchors the progress trend.
CREATE TABLE family_circles (
    patient_id    uuid PRIMARY KEY,
    site_id       text NOT NULL,
    admitted_on   date NOT NULL,
    baseline_phq9 integer,
    opened_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX family_circles_site ON family_circles (site_id);

-- Who the support persons are: their names stay here and never ride on an event.
CREATE TABLE support_persons (
    support_person_id uuid PRIMARY KEY,
    patient_id        uuid NOT NULL,
    site_id           text NOT NULL,
    relationship      text NOT NULL,
    given_name        text NOT NULL,
    family_name       text NOT NULL,
    linked_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX support_persons_patient ON support_persons (patient_id);

-- Every grant of the patient's consent, live or not: the consent history.
CREATE TABLE consents (
    consent_id        uuid PRIMARY KEY,
    patient_id        uuid NOT NULL,
    site_id           text NOT NULL,
    support_person_id uuid NOT NULL REFERENCES support_persons,
    scope             text NOT NULL,
    expires_on        date,
    granted_at        timestamptz NOT NULL,
    revoked_at        timestamptz
);
CREATE INDEX consents_support_person ON consents (support_person_id, granted_at);

-- Family therapy and family psychoeducation: history, stays with the site that held it.
-- Who attended and with which clinician is kept here; the event carries only a count.
CREATE TABLE family_sessions (
    family_session_id uuid PRIMARY KEY,
    patient_id        uuid NOT NULL,
    site_id           text NOT NULL,
    kind              text NOT NULL,
    held_on           date NOT NULL,
    clinician_id      text NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX family_sessions_patient ON family_sessions (patient_id, held_on);

CREATE TABLE family_session_attendance (
    family_session_id uuid NOT NULL REFERENCES family_sessions,
    support_person_id uuid NOT NULL,
    patient_id        uuid NOT NULL,
    site_id           text NOT NULL,
    attended          boolean NOT NULL,
    PRIMARY KEY (family_session_id, support_person_id)
);
