-- The event store, outbox and consumer bookkeeping that every service database has.

CREATE TABLE event_streams (
    stream_id text PRIMARY KEY,
    version   integer NOT NULL CHECK (version >= 1)
);

CREATE TABLE events (
    global_position bigserial PRIMARY KEY,
    event_id        uuid NOT NULL UNIQUE,
    stream_id       text NOT NULL REFERENCES event_streams (stream_id),
    stream_version  integer NOT NULL,
    event_type      text NOT NULL,
    envelope        jsonb NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, stream_version)
);

-- Rows wait here until the relay has published them, then are deleted.
-- A row is written in the same transaction as its event, so nothing commits
-- without being published eventually, and nothing is published that did not commit.
CREATE TABLE outbox (
    position    bigserial PRIMARY KEY,
    topic       text NOT NULL,
    envelope    jsonb NOT NULL,
    enqueued_at timestamptz NOT NULL DEFAULT now()
);

-- Events this service's projections have applied: redelivery changes nothing.
CREATE TABLE applied_events (
    event_id   uuid PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- Events a projection could not apply after retries, kept for an operator.
CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    topic       text NOT NULL,
    partition   integer NOT NULL,
    "offset"    bigint NOT NULL,
    event_id    text,
    event_type  text,
    error       text NOT NULL,
    headers     jsonb NOT NULL,
    value       bytea NOT NULL,
    failed_at   timestamptz NOT NULL DEFAULT now()
);

-- Responses to requests sent with an Idempotency-Key, so a retry replays, never repeats.
CREATE TABLE idempotency_keys (
    key         text PRIMARY KEY,
    fingerprint text NOT NULL,
    status      integer NOT NULL,
    body        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
