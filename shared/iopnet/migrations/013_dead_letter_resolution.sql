-- Dead letters are resolved by an operator (iopctl dead-letters redrive|discard), who
-- says who and why; resolved ones are kept for a while (iopnet.retention), then purged.
-- The record's key (the patient or site) is kept so later records with that key on the
-- same partition can wait behind it: one patient's events are never applied around a gap.
ALTER TABLE dead_letters
    ADD COLUMN record_key  text,
    ADD COLUMN resolved_at timestamptz,
    ADD COLUMN resolution  text CHECK (resolution IN ('redriven', 'discarded')),
    ADD COLUMN resolved_by text,
    ADD COLUMN reason      text,
    ADD CONSTRAINT dead_letters_resolved CHECK ((resolved_at IS NULL) = (resolution IS NULL));
CREATE INDEX dead_letters_open ON dead_letters (topic, partition, record_key)
    WHERE resolved_at IS NULL;
CREATE INDEX dead_letters_resolved_at ON dead_letters (resolved_at) WHERE resolved_at IS NOT NULL;

-- Records that came after a dead letter with the same key on the same partition: kept,
-- not applied, until the dead letter is resolved; then applied in offset order.
CREATE TABLE parked_records (
    id             bigserial PRIMARY KEY,
    dead_letter_id bigint NOT NULL REFERENCES dead_letters ON DELETE CASCADE,
    topic          text NOT NULL,
    partition      integer NOT NULL,
    "offset"       bigint NOT NULL,
    record_key     text,
    headers        jsonb NOT NULL,
    value          bytea NOT NULL,
    parked_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, partition, "offset")
);
CREATE INDEX parked_records_behind ON parked_records (dead_letter_id, "offset");

-- The inbox in the order it was applied, and the transaction that applied each entry,
-- so a rebuild reads a consistent snapshot and then exactly what committed after it.
ALTER TABLE applied_events
    ADD COLUMN position       bigserial,
    ADD COLUMN transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX applied_events_position ON applied_events (position);
