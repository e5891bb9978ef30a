"""A consumer's inbox and offsets, kept in the service's own database.

- ``applied_events`` is the inbox: every event the service consumed, whether it
  projects it or not, once (its id is the key), with where it was read and the
  envelope itself.
- ``consumer_offsets`` is where each consumer group stands in each partition.

The consumer writes both in the transaction that applies the events, so the
projection, the inbox and the offsets commit or vanish together.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from iopnet.db import Connection
from iopnet.envelope import EventEnvelope


@dataclass(frozen=True)
class Position:
    """Where an event was read: a Kafka record's place, or only its topic when it was
    applied from its producer's store instead (a repair)."""

    topic: str
    partition: int | None = None
    offset: int | None = None


async def record(conn: Connection, envelope: EventEnvelope, position: Position) -> bool:
    """Put ``envelope`` in the inbox; True the first time, False for a repeat."""
    first_time: bool | None = await conn.fetchval(
        "INSERT INTO applied_events (event_id, topic, partition, \"offset\", event_type,"
        " envelope) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING"
        " RETURNING true",
        envelope.id, position.topic, position.partition, position.offset, envelope.type,
        envelope.model_dump(mode="json"),
    )
    return bool(first_time)


async def record_all(conn: Connection, arrivals: Sequence[tuple[EventEnvelope, Position]]
                     ) -> list[bool]:
    """Put every envelope of ``arrivals`` in the inbox, in order, in one statement; for each,
    True the first time, False for a repeat (of an earlier transaction, or earlier in
    ``arrivals``)."""
    ids = [uuid.UUID(envelope.id) for envelope, _ in arrivals]
    first = {event_id: n for n, event_id in reversed(list(enumerate(ids)))}
    rows = [n for n, event_id in enumerate(ids) if first[event_id] == n]
    added = {row["event_id"] for row in await conn.fetch(
        "INSERT INTO applied_events (event_id, topic, partition, \"offset\", event_type,"
        " envelope) SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::bigint[],"
        " $5::text[], $6::text[]::jsonb[]) ON CONFLICT (event_id) DO NOTHING"
        " RETURNING event_id",
        [ids[n] for n in rows], [arrivals[n][1].topic for n in rows],
        [arrivals[n][1].partition for n in rows], [arrivals[n][1].offset for n in rows],
        [arrivals[n][0].type for n in rows],
        [arrivals[n][0].model_dump_json() for n in rows],
    )} if rows else set()
    return [first[event_id] == n and event_id in added for n, event_id in enumerate(ids)]


async def advance(conn: Connection, group_id: str, topic: str, partition: int,
                  next_offset: int) -> None:
    """The group's next record to read in the partition; it never moves backwards."""
    await conn.execute(
        "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (group_id, topic, partition) DO UPDATE"
        " SET next_offset = GREATEST(consumer_offsets.next_offset, EXCLUDED.next_offset),"
        " updated_at = now()",
        group_id, topic, partition, next_offset,
    )


async def stored_offsets(conn: Connection, group_id: str, topics: Sequence[str]
                         ) -> dict[tuple[str, int], int]:
    """The next offset of every partition of ``topics`` the group has applied from."""
    rows = await conn.fetch(
        "SELECT topic, partition, next_offset FROM consumer_offsets"
        " WHERE group_id = $1 AND topic = ANY($2::text[])",
        group_id, list(topics),
    )
    return {(row["topic"], row["partition"]): row["next_offset"] for row in rows}
