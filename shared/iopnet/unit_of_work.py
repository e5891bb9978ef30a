"""The unit of work a command handler runs in: one transaction, one cause.

A handler loads aggregates by replaying their own streams (never from read
models), changes them through their commands, and saves them: their new
events are appended, and the service's projection of its own events writes
the derived tables in the same transaction. An aggregate loaded twice in one
unit is read once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from typing import TypeVar, cast

from iopnet.aggregate import Aggregate
from iopnet.auth.registry import date_in, site_time_zone
from iopnet.catalog import DomainEvent, parse_event
from iopnet.consumer import Projector
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.eventstore import Appending, Cause, EventStore, Rider

A = TypeVar("A", bound=Aggregate)
#: Projects several saved events at once, in their order (``save_all``).
BatchProjector = Callable[[Connection, Sequence[tuple[DomainEvent, EventEnvelope]]],
                          Awaitable[None]]
#: A save's projection as writes its append's statement makes (``Rider``); None when it
#: cannot be (the save is then projected after the append).
RidingProjector = Callable[[Sequence[tuple[DomainEvent, EventEnvelope]]],
                           Sequence[Rider] | None]


class UnitOfWork:
    def __init__(self, conn: Connection, events: EventStore, cause: Cause, *,
                 project: Projector | None = None,
                 project_all: BatchProjector | None = None,
                 project_riding: RidingProjector | None = None) -> None:
        self.conn = conn
        self.events = events
        self.cause = cause
        self.project = project
        self.project_all = project_all
        self.project_riding = project_riding
        self._loaded: dict[str, Aggregate] = {}
        # Data keys by subject, read while loading: saving seals with them, no second read.
        # A key destroyed meanwhile (the patient forgotten) leaves what it seals unreadable.
        self._keys: dict[str, bytes] = {}
        # Time zones by site, read with the streams (or by ``site_date``): a site's date
        # is then taken in this transaction without a statement of its own.
        self._zones: dict[str, str] = {}

    async def load(self, kind: type[A], aggregate_id: str, *, visible_in: str | None = None
                   ) -> A | None:
        """The aggregate as its stream tells it, or None when it has no events (or, with
        ``visible_in``, when the caller's site does not see its row there)."""
        stream_id = f"{kind.stream_prefix}-{aggregate_id}"
        if stream_id in self._loaded and visible_in is None:
            return cast(A, self._loaded[stream_id])
        history = await self.events.read_stream(self.conn, stream_id, keys=self._keys,
                                                zones=self._zones, visible_in=visible_in)
        if not history:
            return None
        aggregate = kind.rebuild(aggregate_id, (parse_event(e) for e in history))
        self._loaded[stream_id] = aggregate
        return aggregate

    async def load_many(self, kind: type[A], aggregate_ids: Sequence[str]) -> dict[str, A]:
        """The aggregates (by id) as their streams tell them, read in one statement; those
        without events are absent."""
        ids = {f"{kind.stream_prefix}-{aggregate_id}": aggregate_id
               for aggregate_id in aggregate_ids}
        unread = [stream_id for stream_id in ids if stream_id not in self._loaded]
        if unread:
            histories = await self.events.read_streams(self.conn, unread, keys=self._keys,
                                                       zones=self._zones)
            for stream_id, history in histories.items():
                self._loaded[stream_id] = kind.rebuild(
                    ids[stream_id], (parse_event(e) for e in history))
        return {aggregate_id: cast(A, self._loaded[stream_id])
                for stream_id, aggregate_id in ids.items() if stream_id in self._loaded}

    async def site_date(self, site_id: str, at: datetime | None = None) -> date:
        """The date at the site at ``at`` (by default now), with the zone this transaction
        read (``iopnet.auth.registry.site_date``'s answer, without its statement)."""
        zone = self._zones.get(site_id)
        if zone is None:
            zone = await site_time_zone(self.conn, site_id, default="")
            if zone:  # a site not known here (yet) is not remembered
                self._zones[site_id] = zone
        return date_in(zone or "UTC", at)

    async def save_all(self, aggregates: Sequence[Aggregate], *, topic: str | None = None
                       ) -> list[EventEnvelope]:
        """``save`` for several aggregates in one statement: all of them, or none."""
        changed = [aggregate for aggregate in aggregates if aggregate.pending]
        if len(changed) <= 1:
            return [e for aggregate in changed for e in await self.save(aggregate, topic=topic)]
        saved = await self.events.append_streams(self.conn, [
            Appending(a.stream_id, a.version, a.pending, topic) for a in changed
        ], self.cause, keys=self._keys)
        recorded = [pair for aggregate, envelopes in zip(changed, saved, strict=True)
                    for pair in zip(aggregate.pending, envelopes, strict=True)]
        if self.project_all is not None:
            await self.project_all(self.conn, recorded)
        elif self.project is not None:
            for event, envelope in recorded:
                await self.project(self.conn, event, envelope)
        for aggregate in changed:
            aggregate.mark_saved()
            self._loaded[aggregate.stream_id] = aggregate
        return [e for envelopes in saved for e in envelopes]

    async def save(self, aggregate: Aggregate, *, topic: str | None = None
                   ) -> list[EventEnvelope]:
        """Record the aggregate's new events (published to ``topic`` or the service's own)."""
        rode = False

        def riders(events: Sequence[DomainEvent], envelopes: Sequence[EventEnvelope]
                   ) -> Sequence[Rider] | None:
            nonlocal rode
            assert self.project_riding is not None
            riding = self.project_riding(list(zip(events, envelopes, strict=True)))
            rode = riding is not None
            return riding

        envelopes = await self.events.append(
            self.conn, aggregate.stream_id, aggregate.version, aggregate.pending, self.cause,
            topic=topic, keys=self._keys,
            riders=riders if self.project_riding is not None else None,
        )
        if rode:  # projected by the append's own statement
            pass
        elif self.project_all is not None:
            await self.project_all(self.conn, list(zip(aggregate.pending, envelopes,
                                                       strict=True)))
        elif self.project is not None:
            for event, envelope in zip(aggregate.pending, envelopes, strict=True):
                await self.project(self.conn, event, envelope)
        aggregate.mark_saved()
        self._loaded[aggregate.stream_id] = aggregate
        return envelopes
