-- Every fact is an event: a service's private facts (names, contact details,
-- notes, secrets) are events too, kept in its store and never published.

-- Whether the event went to Kafka, and on which topic. Rows recorded before this
-- migration were all published; their topic is the service's own, or the network
-- topic for a network event (see docs/architecture.md).
ALTER TABLE events ADD COLUMN published boolean NOT NULL DEFAULT true;
ALTER TABLE events ADD COLUMN topic text;
ALTER TABLE events ALTER COLUMN published DROP DEFAULT;

-- Per-patient data keys for the personal data sealed inside private events.
-- Forgetting a patient empties the key (data_key NULL): the row stays so that
-- nothing seals new data for a forgotten patient.
CREATE TABLE data_keys (
    subject_id   text PRIMARY KEY,
    data_key     bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    forgotten_at timestamptz,
    CHECK ((data_key IS NULL) = (forgotten_at IS NOT NULL))
);
