-- The trace of the event that called for a message, so its delivery joins that trace.
ALTER TABLE messages ADD COLUMN trace_context jsonb;
