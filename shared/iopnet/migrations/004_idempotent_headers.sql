-- A replayed answer carries the headers of the first one (an ETag, say).
ALTER TABLE idempotency_keys ADD COLUMN headers jsonb NOT NULL DEFAULT '{}';
