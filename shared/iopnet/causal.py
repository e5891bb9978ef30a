"""Causal order across topics: an event is applied only after what it follows.

Kafka keeps one patient's events in order within a topic, not across topics:
plans' ``PlanRevised`` can reach sessions before intake's ``PatientAdmitted``
that led to the plan, and a late admission would then undo a step-down. So an
event class names the event types it follows for the same subject
(``DomainEvent.follows``). A consumer that reads the topic of one of them and
meets the event before any of them is in its inbox holds it in ``held_events``
(it is in the inbox already: a redelivery changes nothing); the event is
projected, through the same projector, in the transaction that applies what it
waited for, held events in the order they arrived. Holding and releasing a
subject's events take turns (an advisory lock), so a hold and the release of it in
two partitions' transactions at once cannot miss each other. A rebuild replays the inbox
in the order it was recorded and holds the same events in memory (``Replay``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from iopnet.catalog import CATALOG, DomainEvent
from iopnet.catalog.base import event_class_of
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.provenance import producers_of, topic_for

#: Advisory locks of held subjects (``Holds.taken``): any constant of its own.
_LOCK_CLASS = 0x10CA
#: Every event type some other event follows: only these can release held events.
FOLLOWED = frozenset(t for event_class in CATALOG.values() for t in event_class.follows)


def awaited(event_class: type[DomainEvent], topics: Collection[str]) -> list[str]:
    """The types ``event_class`` follows that arrive on ``topics``: a consumer can only
    wait for what it reads."""
    return [followed for followed in event_class.follows
            if any(topic_for(CATALOG[followed], producer) in topics
                   for producer in producers_of(CATALOG[followed]))]


@dataclass
class Holds:
    """Holding and releasing in one transaction that applies a run of events (a consumer's
    batch): the subjects' turns are taken, and what they have seen and held is read, once
    up front; the run's own events are then followed in memory."""

    conn: Connection
    topics: Collection[str]
    #: (subject, event type) consumed, among the types the run's events may wait for.
    seen: set[tuple[str, str]] = field(default_factory=set)
    #: Subjects that may have events held.
    held: set[str] = field(default_factory=set)
    _awaits: dict[str, list[str]] = field(default_factory=dict)

    def awaits(self, envelope: EventEnvelope) -> list[str]:
        """``awaited`` for ``envelope``'s class, worked out once a run."""
        if (waits_for := self._awaits.get(envelope.type)) is None:
            waits_for = self._awaits[envelope.type] = awaited(event_class_of(envelope),
                                                              self.topics)
        return waits_for

    @classmethod
    async def taken(cls, conn: Connection, envelopes: Collection[EventEnvelope],
                    topics: Collection[str]) -> Holds:
        """The turns of the subjects of ``envelopes`` that may be held or release, then
        what those subjects have seen and held.

        The consumer applies partitions side by side, each in a transaction of its own: an
        event could be held while what it follows, not yet committed elsewhere, finds
        nothing to release, and so be held for ever. So a subject's holds and releases take
        turns (an advisory lock until the transaction ends): whoever comes second waits for
        the first to commit, then sees what it did. Turns are taken in one statement, in
        sorted order, so two runs do not deadlock on them; a deadlock with anything else is
        aborted by Postgres and the run applied again (``TRANSIENT``).
        """
        holds = cls(conn, topics)
        awaiting = {t for e in envelopes for t in holds.awaits(e)}
        waiting = {e.subject for e in envelopes if holds.awaits(e)}
        releasing = {e.subject for e in envelopes if e.type in FOLLOWED}
        if not waiting and not releasing:
            return holds
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext(subject))"
            " FROM unnest($2::text[]) AS subject", _LOCK_CLASS, sorted(waiting | releasing))
        # Each statement reads what committed before it: after the turns, not with them.
        for row in await conn.fetch(
            "SELECT envelope->>'subject' AS subject, event_type FROM applied_events"
            " WHERE event_type = ANY($1::text[]) AND envelope->>'subject' = ANY($2::text[])"
            " UNION SELECT subject, NULL FROM held_events WHERE subject = ANY($3::text[])",
            sorted(awaiting), sorted(waiting), sorted(releasing),
        ):
            if row["event_type"] is None:
                holds.held.add(row["subject"])
            else:
                holds.seen.add((row["subject"], row["event_type"]))
        return holds

    async def hold_if_early(self, envelope: EventEnvelope) -> bool:
        """Hold ``envelope`` when none of what it follows has been consumed yet; True if
        held. Call it once ``envelope`` is in the inbox, for the run's events in order."""
        waits_for = self.awaits(envelope)
        if not waits_for or any((envelope.subject, t) in self.seen for t in waits_for):
            return False
        await self.conn.execute(
            "INSERT INTO held_events (subject, event_id, event_type, waits_for, envelope)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
            envelope.subject, envelope.id, envelope.type, waits_for,
            envelope.model_dump(mode="json"),
        )
        self.held.add(envelope.subject)
        return True

    async def released_by(self, envelope: EventEnvelope) -> list[EventEnvelope]:
        """The held events of the subject that ``envelope`` (new in the inbox) frees, in the
        order they were held; they leave ``held_events``."""
        self.seen.add((envelope.subject, envelope.type))
        if envelope.type not in FOLLOWED or envelope.subject not in self.held:
            return []
        rows = await self.conn.fetch(
            "DELETE FROM held_events WHERE subject = $1 AND $2 = ANY(waits_for)"
            " RETURNING position, envelope", envelope.subject, envelope.type)
        return [EventEnvelope.model_validate(row["envelope"])
                for row in sorted(rows, key=lambda row: int(row["position"]))]


@dataclass
class Replay:
    """The hold of ``hold_if_early`` and ``released_by`` for a replay of an inbox in the
    order it was recorded (a rebuild): the same events held, released at the same place."""

    topics: Collection[str]
    seen: set[tuple[str, str]] = field(default_factory=set)
    held: dict[str, list[tuple[EventEnvelope, list[str]]]] = field(default_factory=dict)

    def arrived(self, envelope: EventEnvelope) -> list[EventEnvelope]:
        """What to project now that ``envelope`` is read, in order: it (unless held) and
        what it frees."""
        subject = envelope.subject
        ready = []
        waits_for = awaited(event_class_of(envelope), self.topics)
        if waits_for and not any((subject, t) in self.seen for t in waits_for):
            self.held.setdefault(subject, []).append((envelope, waits_for))
        else:
            ready.append(envelope)
        self.seen.add((subject, envelope.type))
        if envelope.type in FOLLOWED and subject in self.held:
            still = [(h, w) for h, w in self.held[subject] if envelope.type not in w]
            ready += [h for h, w in self.held[subject] if envelope.type in w]
            if still:
                self.held[subject] = still
            else:
                del self.held[subject]
        return ready
