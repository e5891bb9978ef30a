"""Rebuild a service's derived tables from its events, without stopping anything.

Sources, both in the service's own database (Kafka is never read again: its
retention is 30 days, ``iopnet.topics.RETENTION_MS``):

- its **own events** (``events``), through the service's projection of its own
  events (``ServiceSpec.project_own``), private events included;
- the **events it consumed** (the inbox, ``applied_events``, which keeps every
  consumed envelope), through its consumer's ``projectors`` only: never its
  ``reactions``, whose own events are in the store already.

Order: the service-local order in which they were first applied. Own events in
the store's order (transaction, position); inbox entries by the time of the
transaction that applied them (``applied_at``), then position: the consumer applies
partitions in concurrent transactions, and one that started later may take a
position first; the two merged by that time (``recorded_at``, ``applied_at``), then
by position: both take it from one sequence, so in a consumer's transaction an
event consumed comes before what its reaction recorded (shared migration 017).

How: the projectors write into shadow tables (schema ``iopnet_rebuild``, first
on the search path; same columns, keys and indexes; unlogged) while the live
tables go on serving and being written. Everything is read from one snapshot;
then, with the live tables locked against writers (readers go on), what
committed after that snapshot is applied too, and the live tables' rows are
replaced by the shadow's in that one transaction. Consumed events are projected
as the consumer did: a held one after what it follows (``iopnet.causal``), each at
its patient's site of the moment (``iopnet.transfers``), which the rebuild knows from
the writes it makes into the patient site table (``iopnet.rebuild_sites``). Nothing is appended,
published or sent: projectors only write tables, and the bookkeeping tables a
projector may touch (``SINKS``) are shadowed as well and thrown away.

Speed (docs/benchmarks.md): the sources are read in pages, the next one while this
one is projected, each envelope validated once, straight from its stored JSON; the
projectors' writes are held (``iopnet.held_writes``) and sent in runs of one statement
(a patient's writes in order, alike writes of many patients together), a run of one
INSERT as one ``INSERT … SELECT FROM unnest``, written in the background while the next
page is projected, all in one transaction of the writer. Nothing but a
projector's own read sends the held writes early: a patient's site is not read.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, cast

import asyncpg

from iopnet import causal, data_keys, transfers
from iopnet.catalog import parse_event
from iopnet.consumer import TRANSIENT, Projection, Projector
from iopnet.db import Connection, connect
from iopnet.envelope import EventEnvelope
from iopnet.eventstore import open_sealed
from iopnet.held_writes import HeldWrites, patient_of
from iopnet.rebuild_sites import SiteMap

SHADOW = "iopnet_rebuild"
#: Bookkeeping a projector may write as a consequence (forgetting destroys a data key and
#: the idempotent answers about the patient, already gone live): shadowed so a rebuild
#: changes none of it, never swapped in.
SINKS = ("data_keys", "idempotency_keys")
#: Only one rebuild at a time per database.
REBUILD_LOCK = 0x10B0E7
BATCH = 5000
#: Projecting yields to the event loop this often, for the writes and reads under way.
YIELD_EVERY = 250
LOCK_ATTEMPTS = 5

_OWN = ("SELECT recorded_at AS at, global_position AS position, envelope::text AS envelope"
        " FROM events {where}"
        " ORDER BY transaction_id, global_position")
_CONSUMED = ("SELECT applied_at AS at, position, envelope::text AS envelope FROM applied_events"
             " WHERE envelope IS NOT NULL {where} ORDER BY applied_at, position")
_AFTER_SNAPSHOT = "NOT pg_visible_in_snapshot(transaction_id, $1::text::pg_snapshot)"


@dataclass(frozen=True)
class Sources:
    """What a service's derived tables are built from."""

    tables: Sequence[str]
    own: Projector | None
    consumed: Projection | None
    #: The table whose ``site_id`` says where the service keeps a patient
    #: (``ServiceSpec.patient_site_table``): a rebuild follows it as it writes it.
    patient_site_table: str = ""


@dataclass
class Progress:
    total: int
    own: int = 0
    consumed: int = 0
    #: Inbox entries from before migration 007, without their envelope: not replayable.
    unreplayable: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return self.own + self.consumed

    @property
    def per_second(self) -> float:
        return self.done / max(time.monotonic() - self.started, 1e-9)


@dataclass
class Outcome:
    progress: Progress
    #: Per table: (live rows the rebuild lacks, rebuilt rows the live table lacks).
    differences: dict[str, tuple[int, int]]
    swapped: list[str]



class RebuildRunning(RuntimeError):
    """Another rebuild of this database is under way."""


class _Entry(NamedTuple):
    at: datetime
    position: int
    own: bool
    envelope: EventEnvelope


async def rebuild(dsn: str, sources: Sources, *, swap: Sequence[str] | None = None,
                  check_only: bool = False,
                  on_progress: Callable[[Progress], None] | None = None) -> Outcome:
    """Rebuild ``sources.tables`` into shadow tables; swap in ``swap`` (default: all), or,
    with ``check_only``, only compare them with the live tables."""
    writer, reader = await connect(dsn), await connect(dsn)
    try:
        if not await writer.fetchval("SELECT pg_try_advisory_lock($1)", REBUILD_LOCK):
            raise RebuildRunning("another rebuild of this database is under way")
        schema = await writer.fetchval("SELECT current_schema()")
        run = _Run(sources, writer, reader, schema, on_progress)
        await run.prepare()
        try:
            with _no_cycle_collection():
                snapshot = await run.build()
            return await run.finish(snapshot, list(swap or sources.tables), check_only)
        finally:
            await writer.execute(f"DROP SCHEMA IF EXISTS {SHADOW} CASCADE")
    finally:
        await reader.close()
        await writer.close()


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """The cyclic garbage collector paused: a rebuild makes millions of short-lived objects
    without cycles (reference counting frees them), and the collector's passes over them
    took about 40% of its CPU."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Run:
    def __init__(self, sources: Sources, writer: Connection, reader: Connection, schema: str,
                 on_progress: Callable[[Progress], None] | None) -> None:
        self.sources = sources
        self.writer = writer  # its search path leads to the shadow tables
        self.sites = SiteMap(sources.patient_site_table) if sources.patient_site_table else None
        self.deferred = HeldWrites(writer, self.sites)
        self.reader = reader  # reads the live schema: events, inbox, data keys
        self.live = schema
        self.on_progress = on_progress or (lambda _: None)
        self.site_of = self.sites.site_of() if self.sites is not None else None
        self.progress = Progress(total=0)
        self.consumed: Mapping[str, Projector] = {}
        self.causal_order = causal.Replay(topics=())
        if sources.consumed is not None:
            self.consumed = {kind.event_type: projector
                             for kind, projector in sources.consumed.projectors.items()}
            self.causal_order = causal.Replay(topics=sources.consumed.topics)

    async def prepare(self) -> None:
        """Empty shadow tables, first on the writer's search path."""
        await self.writer.execute(f"DROP SCHEMA IF EXISTS {SHADOW} CASCADE;"
                                  f" CREATE SCHEMA {SHADOW}")
        for table in [*self.sources.tables, *SINKS]:
            await self.writer.execute(
                f"CREATE UNLOGGED TABLE {SHADOW}.{table} (LIKE {self.live}.{table}"
                " INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES"
                " INCLUDING GENERATED INCLUDING IDENTITY)")
        await self.writer.execute(f"SET search_path = {SHADOW}, {self.live};"
                                  " SET synchronous_commit = off")

    async def build(self) -> str:
        """Apply everything in one snapshot of the sources; that snapshot."""
        reader = self.reader
        async with reader.transaction(isolation="repeatable_read", readonly=True):
            snapshot: str = await reader.fetchval("SELECT pg_current_snapshot()::text")
            counts = await reader.fetchrow(
                "SELECT (SELECT count(*) FROM events) AS own, (SELECT count(*) FILTER"
                " (WHERE envelope IS NOT NULL) FROM applied_events) AS consumed,"
                " (SELECT count(*) FILTER (WHERE envelope IS NULL) FROM applied_events) AS old")
            assert counts is not None
            self.progress = Progress(total=counts["own"] + counts["consumed"],
                                     unreplayable=counts["old"])
            turns = asyncio.Lock()  # the two cursors share the reader
            own = _pages(reader, turns, _OWN.format(where=""), True)
            consumed = _pages(reader, turns, _CONSUMED.format(where=""), False)
            try:
                # One transaction: the shadow tables are the rebuild's alone, and unlogged.
                async with self.writer.transaction():
                    await self._apply(_merged(own, consumed))
            finally:  # no read ahead left under way when the reader's transaction ends
                await own.aclose()
                await consumed.aclose()
        return snapshot

    async def finish(self, snapshot: str, swap: list[str], check_only: bool) -> Outcome:
        """Under a lock that stops writers (not readers): catch up, compare, swap."""
        for attempt in range(LOCK_ATTEMPTS):
            try:
                return await self._locked_finish(snapshot, swap, check_only)
            except TRANSIENT:  # a deadlock with a writer, or the lock timed out
                if attempt == LOCK_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def _locked_finish(self, snapshot: str, swap: list[str], check_only: bool
                             ) -> Outcome:
        tables = await _parents_first(self.writer, self.live, self.sources.tables)
        tx = self.writer.transaction()
        await tx.start()
        try:
            await self.writer.execute("SET LOCAL lock_timeout = '10s'")
            await self.writer.execute(
                "LOCK TABLE " + ", ".join(f"{self.live}.{t}" for t in sorted(tables))
                + " IN EXCLUSIVE MODE")
            before = self.progress.done
            # Writers are held now: what committed since the snapshot is all there is.
            await self._apply(_merged(
                _fetched(self.reader, _OWN.format(where="WHERE " + _AFTER_SNAPSHOT), snapshot,
                         True),
                _fetched(self.reader, _CONSUMED.format(where="AND " + _AFTER_SNAPSHOT),
                         snapshot, False)))
            self.progress.total += self.progress.done - before
            differences = {t: await self._differences(t) for t in tables}
            swapped = [] if check_only else await self._swap([t for t in tables if t in swap])
        except BaseException:
            await tx.rollback()
            raise
        if check_only:
            await tx.rollback()
        else:
            await tx.commit()
        return Outcome(self.progress, differences, swapped)

    async def _apply(self, batches: AsyncIterator[list[_Entry]]) -> None:
        try:
            async for batch in batches:
                await self._project(batch)
                self.on_progress(self.progress)
            await self.deferred.flush()
        except BaseException:
            await self.deferred.settle()
            raise

    async def _project(self, batch: list[_Entry]) -> None:
        writer, deferred = cast(Connection, self.deferred), self.deferred
        own = sum(entry.own for entry in batch)
        self.progress.own += own
        self.progress.consumed += len(batch) - own
        for n, entry in enumerate(batch):
            if not entry.own:
                for envelope in self.causal_order.arrived(entry.envelope):
                    await self._consumed(writer, envelope)
            elif self.sources.own is not None:
                event = parse_event(entry.envelope)
                deferred.key = patient_of(event)
                await self.sources.own(writer, event, entry.envelope)
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # lets the writes being sent and the reads ahead go on
        await deferred.send()

    async def _consumed(self, writer: Connection, envelope: EventEnvelope) -> None:
        """As the consumer projected it: after what it follows (``self.causal_order``),
        at the site where its patient's care was then (``Projection.localized``)."""
        projector = self.consumed.get(envelope.type)
        if projector is not None and self.sources.consumed is not None:
            if self.sites is not None:
                event = await transfers.localized(writer, parse_event(envelope), self.site_of)
            else:
                event = await self.sources.consumed.localized(writer, envelope)
            self.deferred.key = patient_of(event)
            await projector(writer, event, envelope)

    async def _differences(self, table: str) -> tuple[int, int]:
        columns = ", ".join(await compared_columns(self.writer, self.live, table))
        live = f"SELECT {columns} FROM {self.live}.{table}"
        shadow = f"SELECT {columns} FROM {SHADOW}.{table}"
        row = await self.writer.fetchrow(
            f"SELECT (SELECT count(*) FROM ({live} EXCEPT ALL {shadow}) lacking) AS lacking,"
            f" (SELECT count(*) FROM ({shadow} EXCEPT ALL {live}) extra) AS extra")
        assert row is not None
        return row["lacking"], row["extra"]

    async def _swap(self, tables: list[str]) -> list[str]:
        """The live tables' rows replaced by the shadow's: children emptied first,
        parents filled first. Readers see the old rows until this commits."""
        for table in reversed(tables):
            await self.writer.execute(f"DELETE FROM {self.live}.{table}")
        for table in tables:
            columns = ", ".join(await _stored_columns(self.writer, self.live, table))
            await self.writer.execute(
                f"INSERT INTO {self.live}.{table} ({columns}) OVERRIDING SYSTEM VALUE"
                f" SELECT {columns} FROM {SHADOW}.{table}")
        return tables


async def _pages(conn: Connection, turns: asyncio.Lock, query: str, own: bool
                 ) -> AsyncGenerator[list[_Entry], None]:
    """Pages of entries from a cursor of the reader's snapshot, the next page read while
    this one is projected. ``turns``: one statement at a time on the reader."""

    async def fetch() -> list[asyncpg.Record]:
        async with turns:
            return await cursor.fetch(BATCH)

    async with turns:
        cursor = await conn.cursor(query)
    ahead = asyncio.ensure_future(fetch())
    try:
        while rows := await ahead:
            ahead = asyncio.ensure_future(fetch())
            yield await _entries(conn, turns, rows, own)
    finally:
        with suppress(BaseException):
            await ahead


async def _fetched(conn: Connection, query: str, snapshot: str, own: bool
                   ) -> AsyncIterator[list[_Entry]]:
    if rows := await conn.fetch(query, snapshot):
        yield await _entries(conn, asyncio.Lock(), rows, own)


async def _entries(conn: Connection, turns: asyncio.Lock, rows: list[asyncpg.Record],
                   own: bool) -> list[_Entry]:
    """Envelopes validated once, from the stored JSON; own events' sealed data opened."""
    envelopes = [EventEnvelope.model_validate_json(row["envelope"]) for row in rows]
    if own:
        envelopes = await _opened(conn, turns, [row["envelope"] for row in rows], envelopes)
    return [_Entry(row["at"], row["position"], own, envelope)
            for row, envelope in zip(rows, envelopes, strict=True)]


#: How a sealed field's marker shows in an envelope's stored JSON (jsonb's text escapes
#: no ``$``), wherever it is.
_SEALED_MARK = json.dumps(data_keys.SEALED)


async def _opened(conn: Connection, turns: asyncio.Lock, stored: list[str],
                  envelopes: list[EventEnvelope]) -> list[EventEnvelope]:
    """``envelopes`` with their sealed data opened. Only those whose stored JSON has the
    sealed marker go to ``open_sealed``: a search of the text costs a tenth of its test
    of every field (most events have no sealed data; a false match is only tested)."""
    marked = [n for n, text in enumerate(stored) if _SEALED_MARK in text]
    if not marked:
        return envelopes
    async with turns:
        opened = await open_sealed(conn, [envelopes[n] for n in marked])
    for n, envelope in zip(marked, opened, strict=True):
        envelopes[n] = envelope
    return envelopes


async def _merged(own: AsyncIterator[list[_Entry]], consumed: AsyncIterator[list[_Entry]]
                  ) -> AsyncIterator[list[_Entry]]:
    """Both sources in their own order, interleaved by recording time then position, in
    batches of about ``BATCH``."""
    sources = (own, consumed)
    pages: list[list[_Entry]] = [await anext(own, []), await anext(consumed, [])]
    at = [0, 0]
    batch: list[_Entry] = []
    while pages[0] and pages[1]:
        first, second = pages[0][at[0]], pages[1][at[1]]
        side = 0 if first[:2] <= second[:2] else 1
        batch.append(pages[side][at[side]])
        at[side] += 1
        if at[side] == len(pages[side]):
            pages[side], at[side] = await anext(sources[side], []), 0
            if len(batch) >= BATCH:
                yield batch
                batch = []
    for side in (0, 1):  # what is left of one source, if any
        while pages[side]:
            batch.extend(pages[side][at[side]:])
            yield batch
            batch = []
            pages[side], at[side] = await anext(sources[side], []), 0
    if batch:
        yield batch


async def _parents_first(conn: Connection, schema: str, tables: Sequence[str]) -> list[str]:
    """``tables`` ordered so that a table comes after every table it references."""
    edges = await conn.fetch(
        "SELECT c.conrelid::regclass::text AS child, c.confrelid::regclass::text AS parent"
        " FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
        " WHERE c.contype = 'f' AND n.nspname = $1", schema)
    parents: dict[str, set[str]] = {t: set() for t in tables}
    for edge in edges:
        child, parent = _bare(edge["child"]), _bare(edge["parent"])
        if child in parents and parent in parents and child != parent:
            parents[child].add(parent)
    ordered: list[str] = []
    while parents:
        ready = sorted(t for t, ps in parents.items() if not ps - set(ordered))
        if not ready:
            raise ValueError(f"foreign keys loop between {sorted(parents)}")
        ordered.extend(ready)
        for table in ready:
            del parents[table]
    return ordered


def _bare(name: str) -> str:
    return name.rsplit(".", 1)[-1].strip('"')


async def _stored_columns(conn: Connection, schema: str, table: str) -> list[str]:
    """The columns a row is written with (generated ones are computed)."""
    return [row["attname"] for row in await conn.fetch(
        "SELECT attname FROM pg_attribute WHERE attrelid = format('%I.%I', $1::text,"
        " $2::text)::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''"
        " ORDER BY attnum", schema, table)]


async def compared_columns(conn: Connection, schema: str, table: str) -> list[str]:
    """The columns a rebuild must reproduce: all but those numbered by a sequence (a
    serial id is renumbered by a rebuild; the live one kept the gaps of rolled-back
    transactions)."""
    rows = await conn.fetch(
        "SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) AS default_value"
        " FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid"
        " AND d.adnum = a.attnum WHERE a.attrelid = format('%I.%I', $1::text, $2::text)::regclass"
        " AND a.attnum > 0 AND NOT a.attisdropped AND a.attidentity = '' ORDER BY a.attnum",
        schema, table)
    return [row["attname"] for row in rows
            if not (row["default_value"] or "").startswith("nextval(")]


def describe(progress: Progress) -> str:
    return (f"{progress.done:,}/{progress.total:,} events ({progress.own:,} own,"
            f" {progress.consumed:,} consumed), {progress.per_second:,.0f}/s")

