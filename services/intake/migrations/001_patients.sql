-- Who the patient is: identifying data stays here, in intake, and never rides on an event.
CREATE TABLE patient_identities (
    patient_id  uuid PRIMARY KEY,
    site_id     text NOT NULL,
    given_name  text NOT NULL,
    family_name text NOT NULL,
    birth_date  date NOT NULL
);

-- The read model intake builds from its own events, in the same transaction.
CREATE TABLE patients (
    patient_id      uuid PRIMARY KEY,
    site_id         text NOT NULL,
    status          text NOT NULL,
    referral_id     uuid NOT NULL,
    referral_source text NOT NULL,
    referred_on     date NOT NULL,
    program_id      text,
    start_date      date,
    days_per_week   integer,
    planned_weeks   integer,
    clinician_id    text,
    version         integer NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX patients_site ON patients (site_id, status);
