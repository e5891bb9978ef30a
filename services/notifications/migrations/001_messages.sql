CREATE TABLE messages (
    id         bigserial PRIMARY KEY,
    patient_id uuid NOT NULL,
    site_id    text NOT NULL,
    kind       text NOT NULL,
    caused_by  uuid NOT NULL,
    status     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (caused_by, kind)
);
CREATE INDEX messages_patient ON messages (patient_id);
