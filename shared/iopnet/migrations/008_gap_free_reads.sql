-- A gap-free global read of the event store. Positions come from a sequence,
-- so a transaction can take position 10 and commit after another took 11 and
-- committed: a reader that had moved past 11 would never see 10. Each event
-- keeps the id of the transaction that recorded it; readers read only below the
-- oldest transaction still in flight (pg_snapshot_xmin), in (transaction, position)
-- order, so whatever commits later always sorts after what they have read.
ALTER TABLE events ADD COLUMN transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX events_transaction_position ON events (transaction_id, global_position);
