"""Event-sourced aggregates and the repository that loads and saves them.

An aggregate is rebuilt by applying its past events in order; a command
checks the rules against that state and records new events, which the
repository appends at the version the aggregate was loaded at. Two commands
racing on one aggregate: the second gets a ConcurrencyConflict, never a merge.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar, Generic, Self, TypeVar

from iopnet.catalog import DomainEvent, parse_event
from iopnet.consumer import Projector
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.eventstore import Cause, EventStore


class Aggregate:
    #: Streams are named ``<stream_prefix>-<id>``.
    stream_prefix: ClassVar[str]

    def __init__(self, aggregate_id: str) -> None:
        self.id = aggregate_id
        self.version = 0
        self.pending: list[DomainEvent] = []

    @classmethod
    def rebuild(cls, aggregate_id: str, history: Iterable[DomainEvent]) -> Self:
        aggregate = cls(aggregate_id)
        for event in history:
            aggregate.apply(event)
            aggregate.version += 1
        return aggregate

    @property
    def stream_id(self) -> str:
        return f"{self.stream_prefix}-{self.id}"

    def record(self, event: DomainEvent) -> None:
        self.apply(event)
        self.pending.append(event)

    def apply(self, event: DomainEvent) -> None:
        """Change state to reflect one event. No rules here: events are facts."""
        raise NotImplementedError

    def mark_saved(self) -> None:
        self.version += len(self.pending)
        self.pending.clear()


A = TypeVar("A", bound=Aggregate)


class Repository(Generic[A]):
    """Loads and saves one kind of aggregate on one connection (one unit of work).

    ``project`` updates the service's own read model in the same transaction,
    so what the API reads back is never behind what it just wrote.
    """

    def __init__(
        self,
        conn: Connection,
        events: EventStore,
        kind: type[A],
        *,
        project: Projector | None = None,
        topic: str | None = None,
    ) -> None:
        self.conn = conn
        self.events = events
        self.kind = kind
        self.project = project
        self.topic = topic

    async def get(self, aggregate_id: str) -> A | None:
        stream_id = f"{self.kind.stream_prefix}-{aggregate_id}"
        history = await self.events.read_stream(self.conn, stream_id)
        if not history:
            return None
        return self.kind.rebuild(aggregate_id, (parse_event(e) for e in history))

    async def save(self, aggregate: A, cause: Cause) -> Sequence[EventEnvelope]:
        envelopes = await self.events.append(
            self.conn, aggregate.stream_id, aggregate.version, aggregate.pending, cause,
            topic=self.topic,
        )
        if self.project is not None:
            for event, envelope in zip(aggregate.pending, envelopes, strict=True):
                await self.project(self.conn, event, envelope)
        aggregate.mark_saved()
        return envelopes
