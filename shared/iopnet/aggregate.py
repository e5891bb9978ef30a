"""Event-sourced aggregates.

An aggregate is rebuilt by applying its past events in order; a command
checks the rules against that state and records new events, which the unit
of work (``iopnet.unit_of_work``) appends at the version the aggregate was
loaded at. Two commands racing on one aggregate: the second gets a
ConcurrencyConflict, never a merge.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar, Self

from iopnet.catalog import DomainEvent


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
