-- Events that arrived before what they follow on another topic (iopnet.causal), held
-- until it arrives; they are in the inbox already. Bookkeeping: never rebuilt.
CREATE TABLE held_events (
    position   bigserial PRIMARY KEY,
    subject    text NOT NULL,
    event_id   uuid NOT NULL UNIQUE,
    event_type text NOT NULL,
    waits_for  text[] NOT NULL,
    envelope   jsonb NOT NULL,
    held_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX held_events_subject ON held_events (subject);
-- Whether a subject's event of a type was consumed: asked for every event that follows one.
CREATE INDEX applied_events_type_subject ON applied_events (event_type, (envelope->>'subject'));
