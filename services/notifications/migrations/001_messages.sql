-- What notifications knows of each patient (from intake, family and sessions), the
-- contact details that live only here, each site's channels and templates, and the
-- messages with their delivery log.

CREATE TABLE patients (
    patient_id    uuid PRIMARY KEY,
    site_id       text NOT NULL,
    status        text NOT NULL,
    program_id    text,
    start_date    date,
    clinician_id  text,
    baseline_phq9 integer,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE patient_contacts (
    patient_id uuid PRIMARY KEY,
    site_id    text NOT NULL,
    email      text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE support_persons (
    support_person_id text PRIMARY KEY,
    patient_id        uuid NOT NULL,
    site_id           text NOT NULL,
    relationship      text NOT NULL,
    linked_at         timestamptz NOT NULL
);
CREATE INDEX support_persons_patient ON support_persons (patient_id);

CREATE TABLE support_person_contacts (
    support_person_id text PRIMARY KEY,
    patient_id        uuid NOT NULL,
    site_id           text NOT NULL,
    email             text NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX support_person_contacts_patient ON support_person_contacts (patient_id);

CREATE TABLE consents (
    consent_id        text PRIMARY KEY,
    patient_id        uuid NOT NULL,
    site_id           text NOT NULL,
    support_person_id text NOT NULL,
    scope             text NOT NULL,
    expires_on        date,
    granted_at        timestamptz NOT NULL,
    revoked_at        timestamptz
);
CREATE INDEX consents_patient ON consents (patient_id);

-- The patient's sessions as scheduled (a family schedule update summarizes them).
CREATE TABLE scheduled_sessions (
    patient_id       uuid NOT NULL,
    session_id       text NOT NULL,
    site_id          text NOT NULL,
    starts_at        timestamptz NOT NULL,
    duration_minutes integer NOT NULL,
    cancelled        boolean NOT NULL DEFAULT false,
    PRIMARY KEY (patient_id, session_id)
);

CREATE TABLE site_channels (
    site_id               text PRIMARY KEY,
    clinician_alert_email text,
    webhook_url           text,
    webhook_secret        text,
    updated_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE site_templates (
    site_id    text NOT NULL,
    kind       text NOT NULL,
    subject    text NOT NULL,
    body       text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, kind)
);

-- One row per (cause, kind, recipient): a redelivered event finds its messages here.
CREATE TABLE messages (
    id             uuid PRIMARY KEY,
    patient_id     uuid NOT NULL,
    site_id        text NOT NULL,
    kind           text NOT NULL,
    channel        text NOT NULL,
    recipient_role text NOT NULL,
    recipient_id   text NOT NULL,
    urgent         boolean NOT NULL DEFAULT false,
    cause_id       text NOT NULL,
    cause_type     text NOT NULL,
    correlation_id text NOT NULL,
    occurred_at    timestamptz NOT NULL,
    facts          jsonb NOT NULL DEFAULT '{}',
    session_id     text,
    status         text NOT NULL,
    due_at         timestamptz NOT NULL,
    attempts       integer NOT NULL DEFAULT 0,
    sent_at        timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (cause_id, kind, recipient_role, recipient_id)
);
CREATE INDEX messages_patient ON messages (patient_id, created_at);
CREATE INDEX messages_due ON messages (due_at) WHERE status = 'pending';
CREATE INDEX messages_session ON messages (patient_id, session_id) WHERE session_id IS NOT NULL;

-- Every delivery attempt and its outcome; the error's class, never its text (no addresses).
CREATE TABLE delivery_log (
    id          bigserial PRIMARY KEY,
    message_id  uuid NOT NULL REFERENCES messages (id),
    site_id     text NOT NULL,
    attempt     integer NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    outcome     text NOT NULL,
    error_class text
);
CREATE INDEX delivery_log_message ON delivery_log (message_id, id);

-- Wakes the delivery job when a message is (or becomes) due now.
CREATE FUNCTION notifications_message_due() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('notifications_due', '');
    RETURN NULL;
END $$;
CREATE TRIGGER messages_due AFTER INSERT OR UPDATE OF due_at ON messages
    FOR EACH ROW WHEN (NEW.status = 'pending' AND NEW.due_at <= now())
    EXECUTE FUNCTION notifications_message_due();
