"""Rebuild a service's derived tables from its events, without stopping anything.

Sources, both in the service's own database (Kafka is never read again: its
retention is 30 days, ``iopnet.topics.RETENTION_MS``):

- its **own events** (``events``), through the service's projection of its own
  events (``ServiceSpec.project_own``), private events included;
- the **events it consumed** (the inbox, ``applied_events``, which keeps every
  consumed envelope), through its consumer's ``projectors`` only: never its
  ``reactions``, whose own events are in the store already.

Order: the service-local order in which they were first applied. Own events in
the store's order (transaction, position); inbox entries in the order they were
recorded (``position``); the two merged by the time of the transaction that
recorded each (``recorded_at``, ``applied_at``), then by position: both take it
from one sequence, so in a consumer's transaction an event consumed comes before
what its reaction recorded (shared migration 017).

How: the projectors write into shadow tables (schema ``iopnet_rebuild``, first
on the search path; same columns, keys and indexes; unlogged) while the live
tables go on serving and being written. Everything is read from one snapshot;
then, with the live tables locked against writers (readers go on), what
committed after that snapshot is applied too, and the live tables' rows are
replaced by the shadow's in that one transaction. Consumed events are projected
as the consumer did: a held one after what it follows (``iopnet.causal``), each at
its patient's site of the moment (``iopnet.transfers``). Nothing is appended,
published or sent: projectors only write tables, and the bookkeeping tables a
projector may touch (``SINKS``) are shadowed as well and thrown away.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import asyncpg

from iopnet import causal
from iopnet.catalog import parse_event
from iopnet.consumer import TRANSIENT, Projection, Projector
from iopnet.db import Connection, connect
from iopnet.envelope import EventEnvelope
from iopnet.eventstore import open_stored

SHADOW = "iopnet_rebuild"
#: Bookkeeping a projector may write as a consequence (forgetting destroys a data key and
#: the idempotent answers about the patient, already gone live): shadowed so a rebuild
#: changes none of it, never swapped in.
SINKS = ("data_keys", "idempotency_keys")
#: Only one rebuild at a time per database.
REBUILD_LOCK = 0x10B0E7
BATCH = 2000
LOCK_ATTEMPTS = 5

_OWN = ("SELECT recorded_at AS at, global_position AS position, envelope FROM events {where}"
        " ORDER BY transaction_id, global_position")
_CONSUMED = ("SELECT applied_at AS at, position, envelope FROM applied_events"
             " WHERE envelope IS NOT NULL {where} ORDER BY position")
_AFTER_SNAPSHOT = "NOT pg_visible_in_snapshot(transaction_id, $1::text::pg_snapshot)"


@dataclass(frozen=True)
class Sources:
    """What a service's derived tables are built from."""

    tables: Sequence[str]
    own: Projector | None
    consumed: Projection | None


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


class _Deferred:
    """The writer as projectors see it during a rebuild: writes are held and sent in runs,
    consecutive writes of one statement as one pipelined ``executemany`` (a rebuild is
    bound by round trips, not by Postgres). Anything else (a read) sends what is held
    first, so projectors read their own writes. ``execute`` answers no status."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._held: list[tuple[str, list[tuple[object, ...]]]] = []

    async def execute(self, query: str, *args: object, timeout: float | None = None) -> str:
        if not args or timeout is not None:
            await self.flush()
            return str(await self._conn.execute(query, *args, timeout=timeout))
        if self._held and self._held[-1][0] == query:
            self._held[-1][1].append(args)
        else:
            self._held.append((query, [args]))
        return ""

    async def flush(self) -> None:
        held, self._held = self._held, []
        for query, runs in held:
            if len(runs) == 1:
                await self._conn.execute(query, *runs[0])
            else:
                await self._conn.executemany(query, runs)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._conn, name)
        if not asyncio.iscoroutinefunction(attribute):
            return attribute

        async def after_flush(*args: Any, **kwargs: Any) -> Any:
            await self.flush()
            return await attribute(*args, **kwargs)

        return after_flush


class RebuildRunning(RuntimeError):
    """Another rebuild of this database is under way."""


@dataclass(frozen=True)
class _Entry:
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
            snapshot = await run.build()
            return await run.finish(snapshot, list(swap or sources.tables), check_only)
        finally:
            await writer.execute(f"DROP SCHEMA IF EXISTS {SHADOW} CASCADE")
    finally:
        await reader.close()
        await writer.close()


class _Run:
    def __init__(self, sources: Sources, writer: Connection, reader: Connection, schema: str,
                 on_progress: Callable[[Progress], None] | None) -> None:
        self.sources = sources
        self.writer = writer  # its search path leads to the shadow tables
        self.deferred = _Deferred(writer)
        self.reader = reader  # reads the live schema: events, inbox, data keys
        self.live = schema
        self.on_progress = on_progress or (lambda _: None)
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
            entries = _merged(_cursor(reader, _OWN.format(where=""), True),
                              _cursor(reader, _CONSUMED.format(where=""), False))
            await self._apply(entries)
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
                         snapshot, False)), transactions=False)
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

    async def _apply(self, entries: AsyncIterator[_Entry], *, transactions: bool = True
                     ) -> None:
        batch: list[_Entry] = []
        async for entry in entries:
            batch.append(entry)
            if len(batch) >= BATCH:
                await self._apply_batch(batch, transactions)
                batch = []
        await self._apply_batch(batch, transactions)

    async def _apply_batch(self, batch: list[_Entry], transaction: bool) -> None:
        if transaction:
            async with self.writer.transaction():
                await self._project(batch)
        else:
            await self._project(batch)
        self.on_progress(self.progress)

    async def _project(self, batch: list[_Entry]) -> None:
        writer = cast(Connection, self.deferred)
        for entry in batch:
            if entry.own:
                self.progress.own += 1
                if self.sources.own is not None:
                    await self.sources.own(writer, parse_event(entry.envelope), entry.envelope)
            else:
                self.progress.consumed += 1
                for envelope in self.causal_order.arrived(entry.envelope):
                    await self._consumed(writer, envelope)
        await self.deferred.flush()

    async def _consumed(self, writer: Connection, envelope: EventEnvelope) -> None:
        """As the consumer projected it: after what it follows (``self.causal_order``),
        at the site where its patient's care was then (``Projection.localized``)."""
        projector = self.consumed.get(envelope.type)
        if projector is not None and self.sources.consumed is not None:
            await projector(writer, await self.sources.consumed.localized(writer, envelope),
                            envelope)

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


async def _cursor(conn: Connection, query: str, own: bool) -> AsyncIterator[_Entry]:
    """Entries from a cursor of the reader's snapshot; own events' sealed data opened."""
    page: list[asyncpg.Record] = []
    async for row in conn.cursor(query, prefetch=BATCH):
        page.append(row)
        if len(page) == BATCH:
            for entry in await _entries(conn, page, own):
                yield entry
            page = []
    for entry in await _entries(conn, page, own):
        yield entry


async def _fetched(conn: Connection, query: str, snapshot: str, own: bool
                   ) -> AsyncIterator[_Entry]:
    for entry in await _entries(conn, await conn.fetch(query, snapshot), own):
        yield entry


async def _entries(conn: Connection, rows: list[asyncpg.Record], own: bool) -> list[_Entry]:
    if own:
        envelopes = await open_stored(conn, [row["envelope"] for row in rows])
    else:
        envelopes = [EventEnvelope.model_validate(row["envelope"]) for row in rows]
    return [_Entry(row["at"], row["position"], own, envelope)
            for row, envelope in zip(rows, envelopes, strict=True)]


async def _merged(own: AsyncIterator[_Entry], consumed: AsyncIterator[_Entry]
                  ) -> AsyncIterator[_Entry]:
    """Both sources in their own order, interleaved by recording time, then position."""
    heads = {True: await anext(own, None), False: await anext(consumed, None)}
    sources = {True: own, False: consumed}
    while heads[True] is not None or heads[False] is not None:
        first, second = heads[True], heads[False]
        take = first is not None and (second is None or (first.at, first.position)
                                      <= (second.at, second.position))
        entry = heads[take]
        assert entry is not None
        yield entry
        heads[take] = await anext(sources[take], None)


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

