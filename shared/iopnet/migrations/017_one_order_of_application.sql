-- A rebuild replays a service's own events and the events it consumed in the order they
-- were applied. A consumer's transaction records a consumed event, then the events its
-- reaction records, then the next consumed event: all at the same time (now()), so only a
-- sequence both share tells their order. The inbox now numbers its entries from the event
-- store's sequence, started past both.
-- An empty store still starts at 1 (is_called false: the next value is the one set).
SELECT setval('events_global_position_seq', coalesce(used.last, 1), used.last IS NOT NULL)
FROM (SELECT greatest((SELECT max(global_position) FROM events),
                      (SELECT max(position) FROM applied_events)) AS last) used;
ALTER TABLE applied_events ALTER COLUMN position SET DEFAULT nextval('events_global_position_seq');
DROP SEQUENCE applied_events_position_seq;
