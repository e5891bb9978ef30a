-- The trace an event was recorded in, so its publication and projection join it.
ALTER TABLE outbox ADD COLUMN trace_context jsonb;
