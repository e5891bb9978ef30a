-- Where each consumer group stands in each partition it reads. The consumer writes it
-- in the transaction that applies the records, so it always agrees with the projection:
-- a lost transaction or a restored backup takes both back, and the consumer reads again
-- from there. Kafka's committed offsets only follow it, for tools and metrics.
CREATE TABLE consumer_offsets (
    group_id    text NOT NULL,
    topic       text NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);

-- applied_events becomes the inbox: every event consumed, projected here or not, with
-- where it was read and its envelope, so it can be compared with its producer's store
-- and replayed without Kafka. Rows from before this migration have only the id.
ALTER TABLE applied_events
    ADD COLUMN topic      text,
    ADD COLUMN partition  integer,
    ADD COLUMN "offset"   bigint,
    ADD COLUMN event_type text,
    ADD COLUMN envelope   jsonb;
