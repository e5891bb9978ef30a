"""Projectors' writes held and sent together (``HeldWrites``): what lets a rebuild replay
tens of thousands of events a second, and a consumer apply a polled batch's projections
in a few statements per table, in the batch's transaction.

Only plain writes are held (``iopnet.statements`` says which INSERTs can go as one
statement); a read, a statement without parameters or with a timeout, and anything else
the connection does first writes everything held. So what a projector reads is what it
would have read had each write gone at once, and what commits is the same.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Iterable, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from iopnet import statements
from iopnet.catalog import DomainEvent, PatientEvent
from iopnet.db import Connection
from iopnet.rebuild_sites import SiteMap


def patient_of(event: DomainEvent) -> str | None:
    """Whose rows the event's projection writes: its patient's, or (None) a site's."""
    return event.patient_id if isinstance(event, PatientEvent) else None


class HeldWrites:
    """A connection as projectors see it: writes are held, then sent in runs, each run
    one statement's rows as one statement (``INSERT … SELECT FROM unnest``) or one
    pipelined ``executemany``: applying many events is bound by round trips and by the
    executor's start per statement, not by the rows. Each write is held with the patient
    whose event made it (``key``): one patient's writes keep their order, while
    different patients' writes, which touch different rows, are grouped by statement
    across them (``runs``). A write of no patient (a site's event) is a barrier: nothing
    moves past it. ``send`` starts sending what is held and returns (a rebuild writes one
    batch while it reads and projects the next); ``flush`` sends it and waits. Anything
    else (a read) waits until everything held is written, so projectors read their own
    writes. ``execute`` answers no status.

    Every write, held or not, is shown to ``watch`` as it is made, in order."""

    def __init__(self, conn: Connection, watch: SiteMap | None = None,
                 set_based: SetBasedForms | None = None) -> None:
        self._conn = conn
        self._held: list[_Write] = []
        self._sending: asyncio.Future[None] | None = None
        #: The patient whose event is being projected; None for a site's.
        self.key: str | None = None
        self._watch = watch
        #: Per statement: how to send many rows of it at once, or None (one at a time).
        #: (Shared by writers on the same tables: finding it out prepares the statement.)
        self._set_based: SetBasedForms = {} if set_based is None else set_based
        #: The rows upserted by the writes held (table and conflict key), and whose.
        self._upserted: dict[tuple[object, ...], str | None] = {}

    async def execute(self, query: str, *args: object, timeout: float | None = None) -> str:
        if self._watch is not None:
            self._watch.wrote(query, args, self.key)
        if not args or timeout is not None:
            await self.flush()
            return str(await self._conn.execute(query, *args, timeout=timeout))
        self._hold(query, args)
        return ""

    async def executemany(self, command: str, args: Iterable[Sequence[object]], *,
                          timeout: float | None = None) -> None:
        rows = [tuple(row) for row in args]
        if self._watch is not None:
            for row in rows:
                self._watch.wrote(command, row, self.key)
        if timeout is not None:
            await self.flush()
            await self._conn.executemany(command, rows, timeout=timeout)
            return
        for row in rows:
            self._hold(command, row)

    def _hold(self, query: str, args: tuple[object, ...]) -> None:
        """Held with its patient; as a barrier if it upserts a row another patient's write
        held here upserted too (a row keyed by something other than the patient, as
        family's group sessions were, one row for all their patients, before its
        migration 007): the last one wins, so their order must stay."""
        key = self.key
        row = None
        if key is not None and (own := _patient_row(query, args, key)) is not None:
            # Its own row needs no following (the most common upsert: cheaper); a row of
            # another patient's is a barrier, as that patient's own ones are not followed.
            key = key if own else None
        elif key is not None:
            row = _row_of(query, args)
        if key is None:
            self._upserted.clear()
        elif row is not None and self._upserted.setdefault(row, key) != key:
            key = None
            self._upserted = {row: self.key}
        self._held.append((query, args, key))

    def _taken(self) -> list[_Write]:
        held, self._held = self._held, []
        self._upserted = {}
        return held

    async def send(self) -> None:
        """Start writing what is held (after what is being written); do not wait for it."""
        await self._sent()
        self._sending = asyncio.ensure_future(self._write(self._taken()))

    async def flush(self) -> None:
        """Write everything held, and wait until it is written."""
        await self._sent()
        await self._write(self._taken())

    async def _sent(self) -> None:
        if self._sending is not None:
            sending, self._sending = self._sending, None
            await sending

    async def settle(self) -> None:
        """Nothing under way on the connection any more (after a failure: it can roll
        back); what is held is dropped."""
        self._held = []
        with suppress(Exception):
            await self._sent()

    async def _write(self, held: list[_Write]) -> None:
        for query, rows in runs(held):
            if len(rows) == 1:
                await self._conn.execute(query, *rows[0])
            elif (together := await self._together(query)) is not None:
                for part in _distinct(rows, together.key):
                    await self._conn.execute(together.query, *map(list, zip(*part, strict=True)))
            else:
                await self._conn.executemany(query, rows)

    async def _together(self, query: str) -> _SetBased | None:
        """``query``'s rows as one statement (one executor start, not one a row), if it is
        a plain INSERT of parameters that are no arrays (``unnest`` would flatten those)."""
        if query in self._set_based:
            return self._set_based[query]
        together = None
        if (insert := statements.insert(query)) is not None:
            types = (await self._conn.prepare(query)).get_parameters()
            if all(t.kind != "array" and not t.name.startswith("_") for t in types):
                rewritten = insert.set_based([f'"{t.schema}"."{t.name}"' for t in types])
                together = None if rewritten is None else _SetBased(*rewritten)
        self._set_based[query] = together
        return together

    def __getattr__(self, name: str) -> Any:
        """Any other method of the connection; one whose call is awaited (a read) first
        writes everything held. Told by what the call returns, not by the method: a
        pool's connection proxy wraps every coroutine method in a plain function."""
        attribute = getattr(self._conn, name)
        if not callable(attribute):
            return attribute

        def after_flush(*args: Any, **kwargs: Any) -> Any:
            called = attribute(*args, **kwargs)  # a coroutine sends nothing until awaited
            if not inspect.isawaitable(called):
                return called
            if self._watch is not None:
                for text in [*args, *kwargs.values()]:
                    if isinstance(text, str):
                        self._watch.wrote(text, args[1:], self.key)
            return self._flushed_then(called)

        return after_flush

    async def _flushed_then(self, called: Awaitable[Any]) -> Any:
        await self.flush()
        return await called


def _row_of(query: str, args: Sequence[object]) -> tuple[object, ...] | None:
    """The row an upsert writes: its table and its conflict key's values (None for any
    other statement, or a key not made of parameters alone)."""
    upsert = _upserts(query)
    if upsert is None:
        return None
    table, key, _ = upsert
    return (table, *(_comparable(args[n]) for n in key)) if max(key) < len(args) else None


def _patient_row(query: str, args: Sequence[object], patient: str) -> bool | None:
    """For an upsert whose conflict key has ``patient_id``: whether the row is
    ``patient``'s (no other patient's write can upsert it, unless it is a barrier). None
    for any other statement."""
    upsert = _upserts(query)
    if upsert is None or upsert[2] is None or upsert[2] >= len(args):
        return None
    return _comparable(args[upsert[2]]) == _comparable(patient)


@lru_cache(maxsize=1024)
def _upserts(query: str) -> tuple[str, tuple[int, ...], int | None] | None:
    """An upsert's table, its conflict key's parameters, and its ``patient_id``'s if the
    key has that column."""
    insert = statements.insert(query)
    if insert is None or not insert.keys:
        return None
    key = [insert.parameter_of(column) for column in insert.keys]
    if None in key:
        return None
    patient = insert.parameter_of("patient_id") if "patient_id" in insert.keys else None
    return insert.table, tuple(n for n in key if n is not None), patient


class _SetBased(NamedTuple):
    query: str
    #: The parameters whose values may not repeat in one execution, or None.
    key: tuple[int, ...] | None


#: Per statement: its rows as one statement, or None (one execution a row).
SetBasedForms = dict[str, _SetBased | None]


def _distinct(rows: list[tuple[object, ...]], key: tuple[int, ...] | None
              ) -> list[list[tuple[object, ...]]]:
    """``rows`` in order, cut wherever a row's ``key`` repeats one of its part's:
    ``ON CONFLICT DO UPDATE`` may not affect a row twice in one statement."""
    if key is None:
        return [rows]
    parts: list[list[tuple[object, ...]]] = [[]]
    seen: set[tuple[object, ...]] = set()
    for row in rows:
        value = tuple(_comparable(row[n]) for n in key)
        if value in seen:
            parts.append([])
            seen = set()
        seen.add(value)
        parts[-1].append(row)
    return parts


def _comparable(value: object) -> object:
    """``value`` as Postgres compares it, or closer (cutting more often is harmless)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    if isinstance(value, str | uuid.UUID):
        return str(value).lower()
    return value


#: A held write: its statement, its arguments, and the patient whose event made it.
_Write = tuple[str, tuple[object, ...], str | None]


def runs(writes: Sequence[_Write]) -> list[tuple[str, list[tuple[object, ...]]]]:
    """``writes`` as few runs of one statement as the order allows: each patient's writes
    in their order, and every write of no patient where it stands, with everything before
    it before it and everything after it after it. Between those barriers, the statement
    at the head of most patients' queues goes first, with every such head."""
    ordered: list[tuple[str, list[tuple[object, ...]]]] = []

    def add(query: str, rows: list[tuple[object, ...]]) -> None:
        if ordered and ordered[-1][0] == query:
            ordered[-1][1].extend(rows)
        else:
            ordered.append((query, rows))

    def drain(queues: list[deque[tuple[str, tuple[object, ...]]]]) -> None:
        while queues:
            heads = Counter(queue[0][0] for queue in queues)
            query = max(heads, key=heads.__getitem__)  # the first seen of the most common
            rows: list[tuple[object, ...]] = []
            for queue in queues:
                while queue and queue[0][0] == query:
                    rows.append(queue.popleft()[1])
            add(query, rows)
            queues = [queue for queue in queues if queue]

    by_key: dict[str, deque[tuple[str, tuple[object, ...]]]] = {}
    for query, args, key in writes:
        if key is None:
            drain(list(by_key.values()))
            by_key = {}
            add(query, [args])
        else:
            by_key.setdefault(key, deque()).append((query, args))
    drain(list(by_key.values()))
    return ordered

