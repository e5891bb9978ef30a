"""Measures read from the databases' own clocks, so the client's scheduling adds nothing.

All the services' databases live on one Postgres server: the producer's
``events.recorded_at`` and a consumer's ``applied_events.applied_at`` are read
from one clock. Both are ``now()``, the start of their transactions: an event
counts as applied from the start of the transaction that applied it, which
understates by that transaction's own length (a batch's, once consumers apply
a polled batch at once).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from iopnet.catalog import SessionsScheduled


async def now(dsn: str) -> datetime:
    conn = await asyncpg.connect(dsn)
    try:
        at: datetime = await conn.fetchval("SELECT now()")
        return at
    finally:
        await conn.close()


async def recorded(dsn: str, event_type: str, since: datetime, until: datetime
                   ) -> dict[uuid.UUID, datetime]:
    """The producer's events of a type recorded in [since, until): id → recorded_at."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT event_id, recorded_at FROM events WHERE event_type LIKE '%' || $1"
            " AND recorded_at >= $2 AND recorded_at < $3", event_type, since, until)
    finally:
        await conn.close()
    return {row["event_id"]: row["recorded_at"] for row in rows}


async def applied(dsn: str, event_ids: list[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT event_id, applied_at FROM applied_events"
                                " WHERE event_id = ANY($1::uuid[])", event_ids)
    finally:
        await conn.close()
    return {row["event_id"]: row["applied_at"] for row in rows}


async def delays(producer: str, consumers: Mapping[str, str], event_type: str,
                 since: datetime, until: datetime, timeout: float = 180
                 ) -> dict[str, list[float]]:
    """Seconds from recorded to applied, per consumer and for ``all`` (the last of them),
    once every consumer has applied every event of the window (or ``timeout`` passed)."""
    events = await recorded(producer, event_type, since, until)
    ids = list(events)
    deadline = time.monotonic() + timeout
    while True:
        found = {name: await applied(dsn, ids) for name, dsn in consumers.items()}
        if all(len(f) == len(ids) for f in found.values()) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    seconds = {name: [(f[e] - events[e]).total_seconds() for e in ids if e in f]
               for name, f in found.items()}
    seconds["all"] = [max((f[e] - events[e]).total_seconds() for f in found.values())
                      for e in ids if all(e in f for f in found.values())]
    return seconds


@dataclass(frozen=True)
class CatchUp:
    events: int
    seconds: float
    #: What the events carried, counted in facts: a schedule its sessions, any other event
    #: one; with the sessions the consumer's reactions scheduled (sessions').
    facts: int = 0

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def facts_rate(self) -> float:
        return self.facts / self.seconds if self.seconds > 0 else 0.0


#: The event that carries many facts: a schedule of some fifty sessions.
SCHEDULE = SessionsScheduled.event_type


async def catch_up(dsn: str, since: datetime, quiet: float = 3.0, timeout: float = 300
                   ) -> CatchUp:
    """How fast a consumer applies its backlog: the events it applied after ``since``
    (its restart), over the time from the first to the last of them, once it has
    applied nothing new for ``quiet`` seconds."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline, last_count, last_change = time.monotonic() + timeout, -1, time.monotonic()
        while time.monotonic() < deadline:
            count = await conn.fetchval(
                "SELECT count(*) FROM applied_events WHERE applied_at >= $1", since)
            if count != last_count:
                last_count, last_change = count, time.monotonic()
            elif count > 0 and time.monotonic() - last_change > quiet:
                break
            await asyncio.sleep(0.25)
        row = await conn.fetchrow(
            "SELECT count(*) AS n, extract(epoch FROM max(applied_at) - min(applied_at))::float8"
            " AS span, coalesce(sum(CASE WHEN event_type = $2"
            " THEN jsonb_array_length(envelope->'data'->'sessions') ELSE 1 END), 0)"
            " + (SELECT coalesce(sum(jsonb_array_length(envelope->'data'->'sessions')), 0)"
            " FROM events WHERE event_type = $2 AND recorded_at >= $1) AS facts"
            " FROM applied_events WHERE applied_at >= $1", since, SCHEDULE)
    finally:
        await conn.close()
    assert row is not None
    return CatchUp(int(row["n"]), float(row["span"] or 0.0), int(row["facts"]))


async def outbox_empty(dsn: str, timeout: float = 120) -> None:
    """Wait until a service's relay has published everything it recorded."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout
        while await conn.fetchval("SELECT count(*) FROM outbox WHERE parked_at IS NULL"):
            if time.monotonic() > deadline:
                raise TimeoutError("the outbox did not drain")
            await asyncio.sleep(0.25)
    finally:
        await conn.close()



async def settled(databases: Mapping[str, str], quiet: float = 3.0, timeout: float = 300
                  ) -> None:
    """Wait until nothing moves: every outbox empty and no consumer applying anything."""
    deadline = time.monotonic() + timeout
    last: list[tuple[int, int]] = []
    while time.monotonic() < deadline:
        now_ = [await _activity(dsn) for dsn in databases.values()]
        if now_ == last and not any(waiting for _, waiting in now_):
            return
        last = now_
        await asyncio.sleep(quiet)
    raise TimeoutError("the system did not settle")


async def _activity(dsn: str) -> tuple[int, int]:
    """Events applied so far, events waiting in the outbox."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM applied_events) AS applied,"
            " (SELECT count(*) FROM outbox WHERE parked_at IS NULL) AS waiting")
    finally:
        await conn.close()
    assert row is not None
    return int(row["applied"]), int(row["waiting"])
