-- A rebuild replays a service's own events and the events it consumed in the order they
-- were applied. A consumer's transaction records a consumed event, then the events its
-- reaction records, then the next consumed event: all at the same time (now()), so only a
-- sequence both share tells their order. The inbox now numbers its entries from the event
-- store's sequence, started past both.
SELECT setval('events_global_position_seq', greatest(
    (SELECT max(global_position) FROM events), (SELECT max(position) FROM applied_events), 1));
ALTER TABLE applied_events ALTER COLUMN position SET DEFAULT nextval('events_global_position_seq');
DROP SEQUENCE applied_events_position_seq;
