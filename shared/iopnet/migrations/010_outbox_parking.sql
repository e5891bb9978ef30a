-- A row the broker will never take (too large, refused topic, unreadable) is parked
-- instead of blocking every later event; later rows with the same key wait behind
-- it, so one patient's events are never published around a gap. An alert fires.
ALTER TABLE outbox ADD COLUMN parked_at timestamptz;
ALTER TABLE outbox ADD COLUMN parked_error text;
CREATE INDEX outbox_parked ON outbox (topic, (envelope->>'subject')) WHERE parked_at IS NOT NULL;
