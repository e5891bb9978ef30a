"""Causal order across topics: an event is applied only after what it follows.

Kafka keeps one patient's events in order within a topic, not across topics:
plans' ``PlanRevised`` can reach sessions before intake's ``PatientAdmitted``
that led to the plan, and a late admission would then undo a step-down. So an
event class names the event types it follows for the same subject
(``DomainEvent.follows``). A consumer that reads the topic of one of them and
meets the event before any of them is in its inbox holds it in ``held_events``
(it is in the inbox already: a redelivery changes nothing); the event is
projected, through the same projector, in the transaction that applies what it
waited for, held events in the order they arrived.
"""

from __future__ import annotations

from collections.abc import Collection

from iopnet.catalog import CATALOG, DomainEvent
from iopnet.catalog.base import event_class_of
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.provenance import producers_of, topic_for

#: Every event type some other event follows: only these can release held events.
FOLLOWED = frozenset(t for event_class in CATALOG.values() for t in event_class.follows)


def awaited(event_class: type[DomainEvent], topics: Collection[str]) -> list[str]:
    """The types ``event_class`` follows that arrive on ``topics``: a consumer can only
    wait for what it reads."""
    return [followed for followed in event_class.follows
            if any(topic_for(CATALOG[followed], producer) in topics
                   for producer in producers_of(CATALOG[followed]))]


async def hold_if_early(conn: Connection, envelope: EventEnvelope, topics: Collection[str]
                        ) -> bool:
    """Hold ``envelope`` when none of what it follows has been consumed yet; True if held."""
    waits_for = awaited(event_class_of(envelope), topics)
    if not waits_for or await _seen_any(conn, envelope.subject, waits_for):
        return False
    await conn.execute(
        "INSERT INTO held_events (subject, event_id, event_type, waits_for, envelope)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
        envelope.subject, envelope.id, envelope.type, waits_for,
        envelope.model_dump(mode="json"),
    )
    return True


async def released_by(conn: Connection, envelope: EventEnvelope) -> list[EventEnvelope]:
    """The held events of the subject that ``envelope`` frees, in the order they were held;
    they leave ``held_events``."""
    if envelope.type not in FOLLOWED:
        return []
    rows = await conn.fetch(
        "DELETE FROM held_events WHERE subject = $1 AND $2 = ANY(waits_for)"
        " RETURNING position, envelope", envelope.subject, envelope.type)
    return [EventEnvelope.model_validate(row["envelope"])
            for row in sorted(rows, key=lambda row: int(row["position"]))]


async def _seen_any(conn: Connection, subject: str, event_types: list[str]) -> bool:
    return bool(await conn.fetchval(
        "SELECT true FROM applied_events WHERE event_type = ANY($1::text[])"
        " AND envelope->>'subject' = $2 LIMIT 1", event_types, subject))
