"""The event store: append-only streams in the service's own Postgres database.

``append`` writes a command's new events *and* their outbox rows on the
caller's connection, inside the caller's transaction, so the events, the
state they change and the promise to publish them commit together or not
at all, in one statement (the stream's version, the events, the outbox rows and
the relay's nudge). Appending with a stale expected version raises
ConcurrencyConflict; nothing is ever overwritten.

Private events (``published = False``) are recorded like the others but get
no outbox row. Their ``sealed_fields`` are stored encrypted with the patient's
data key (``iopnet.data_keys``) and read back in clear, or as None once the
patient is forgotten.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg

from iopnet import data_keys
from iopnet.catalog import DomainEvent
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.metrics import EVENTS_APPENDED
from iopnet.telemetry import current_trace_context, tracer
from iopnet.topics import topic_of


class ConcurrencyConflict(Exception):
    """The stream moved on since the caller read it."""

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        super().__init__(f"stream {stream_id} is at version {actual}, not {expected}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True)
class Cause:
    """Why events are being recorded: the request or event that led to them."""

    correlation_id: str
    causation_id: str

    @classmethod
    def following(cls, envelope: EventEnvelope) -> Cause:
        """The cause of events a consumer records in reaction to ``envelope``."""
        return cls(correlation_id=envelope.correlationid, causation_id=envelope.id)


@dataclass(frozen=True, order=True)
class Checkpoint:
    """Where a reader of the whole store is: the last (transaction, position) it read."""

    transaction_id: int = 0
    global_position: int = 0


@dataclass(frozen=True)
class RecordedEvent:
    checkpoint: Checkpoint
    envelope: EventEnvelope

    @property
    def global_position(self) -> int:
        return self.checkpoint.global_position


class Rider(Protocol):
    """A write of a derived table the append's statement makes too (a projection of the
    appended events, one round trip fewer), only once the stream moved: ``when``."""

    @property
    def args(self) -> Sequence[object]: ...

    def sql(self, first: int, when: str) -> str:
        """The write, its parameters numbered from ``first``."""
        ...


#: The writes that ride on an append, from its events and their envelopes; None: none
#: can (the caller projects them itself, after the append).
Riders = Callable[[Sequence[DomainEvent], Sequence[EventEnvelope]], Sequence[Rider] | None]
_MOVED = "EXISTS (SELECT FROM advanced)"
_APPEND_ARGS = 7


def _append_statement(advance: str, riders: str = "") -> str:
    """Appending as one statement, one round trip: ``advance`` moves the stream from $2
    to $3; only when it did are the events (``$4``, stored envelopes, in order) and the
    outbox rows of those with a topic (``$5``) inserted, and the relay nudged on ``$7``.
    ``riders``: more CTEs (their writes run after the stream's, which they wait for).
    The answer says whether the stream moved."""
    return (
        f"WITH advanced AS ({advance} RETURNING version),"
        " new AS (SELECT envelope, topic, n FROM ROWS FROM (jsonb_array_elements($4::jsonb),"
        "  unnest($5::text[])) WITH ORDINALITY AS appended (envelope, topic, n)"
        "  WHERE EXISTS (SELECT FROM advanced)),"
        " recorded AS (INSERT INTO events (event_id, stream_id, stream_version, event_type,"
        "  envelope, published, topic) SELECT (envelope->>'id')::uuid, $1, $2::int + n::int,"
        "  envelope->>'type', envelope, topic IS NOT NULL, topic FROM new ORDER BY n),"
        " queued AS (INSERT INTO outbox (topic, envelope, trace_context)"
        "  SELECT topic, envelope, $6::jsonb FROM new WHERE topic IS NOT NULL ORDER BY n)"
        f"{riders} SELECT EXISTS (SELECT FROM advanced),"
        "  (SELECT pg_notify($7::text, '') FROM advanced WHERE $7::text IS NOT NULL)"
    )


_TO_NEW = ("INSERT INTO event_streams (stream_id, version) VALUES ($1, $3::int)"
           " ON CONFLICT (stream_id) DO NOTHING")
# Under READ COMMITTED a concurrent writer blocks on the stream's row, then sees the new
# version and updates nothing: the loser gets a conflict, never a merge.
_ONTO = "UPDATE event_streams SET version = $3::int WHERE stream_id = $1 AND version = $2::int"
_APPEND_TO_NEW = _append_statement(_TO_NEW)
_APPEND = _append_statement(_ONTO)


# Several streams at once: each stream's row is locked, and only if every one is at its
# expected version (a stream to be made: has none) do the versions move and the events,
# their outbox rows and the nudge go in. A stale stream writes nothing; a stream made
# meanwhile by another writer breaks the primary key, failing the whole statement.
_APPEND_TO_STREAMS = (
    "WITH streams AS (SELECT * FROM unnest($1::text[], $2::int[], $3::int[])"
    "  AS s (stream_id, expected, version)),"
    " locked AS (SELECT stream_id, version FROM event_streams"
    "  WHERE stream_id = ANY($1::text[]) ORDER BY stream_id FOR UPDATE),"
    " checked AS (SELECT NOT EXISTS (SELECT FROM streams s LEFT JOIN locked l USING (stream_id)"
    "  WHERE COALESCE(l.version, 0) <> s.expected) AS ok),"
    " made AS (INSERT INTO event_streams (stream_id, version) SELECT stream_id, version"
    "  FROM streams WHERE expected = 0 AND (SELECT ok FROM checked)),"
    " advanced AS (UPDATE event_streams e SET version = s.version FROM streams s"
    "  WHERE e.stream_id = s.stream_id AND s.expected > 0 AND e.version = s.expected"
    "  AND (SELECT ok FROM checked)),"
    " new AS (SELECT envelope, topic, n FROM ROWS FROM (jsonb_array_elements($4::jsonb),"
    "  unnest($5::text[])) WITH ORDINALITY AS appended (envelope, topic, n)"
    "  WHERE (SELECT ok FROM checked)),"
    " recorded AS (INSERT INTO events (event_id, stream_id, stream_version, event_type,"
    "  envelope, published, topic) SELECT (envelope->>'id')::uuid, envelope->>'streamid',"
    "  (envelope->>'streamversion')::int, envelope->>'type', envelope, topic IS NOT NULL,"
    "  topic FROM new ORDER BY n),"
    " queued AS (INSERT INTO outbox (topic, envelope, trace_context)"
    "  SELECT topic, envelope, $6::jsonb FROM new WHERE topic IS NOT NULL ORDER BY n)"
    " SELECT ok, (SELECT pg_notify($7::text, '') WHERE ok AND $7::text IS NOT NULL)"
    " FROM checked"
)

#: The keys a stream made meanwhile by another writer breaks (whichever is met first).
_A_STREAM_MADE = frozenset({"event_streams_pkey", "events_stream_id_stream_version_key"})


@dataclass(frozen=True)
class Appending:
    """New events for one stream that must be at ``expected_version`` (``append_streams``);
    published to ``topic``, or the store's own when None."""

    stream_id: str
    expected_version: int
    events: Sequence[DomainEvent]
    topic: str | None = None


@functools.cache
def _read_statement(with_zones: bool, visible_in: str | None) -> str:
    """Streams' events with their subjects' data keys, and optionally the time zone of
    each event's site and a visibility check: one constant text per choice, so asyncpg
    prepares each once per connection."""
    return (
        "SELECT e.stream_id, e.envelope, k.data_key"
        + (", s.time_zone" if with_zones else "")
        + " FROM events e LEFT JOIN data_keys k ON k.subject_id = e.envelope->>'subject'"
        + (" LEFT JOIN sites s ON s.site_id = e.envelope->>'siteid'" if with_zones else "")
        + " WHERE e.stream_id = ANY($1::text[])"
        + (f" AND EXISTS (SELECT FROM {visible_in} c"
           " WHERE c.patient_id = (e.envelope->>'subject')::uuid)" if visible_in else "")
        + " ORDER BY e.stream_id, e.stream_version"
    )


def outbox_channel(source: str) -> str:
    """The LISTEN/NOTIFY channel that wakes a service's relay."""
    return "outbox_" + source.rsplit("/", 1)[-1]


class EventStore:
    """One service's event store. ``source`` is its CloudEvents source, ``topic`` its topic."""

    def __init__(self, *, source: str, topic: str) -> None:
        self.source = source
        self.topic = topic
        self.channel = outbox_channel(source)

    @classmethod
    def of(cls, service: str) -> EventStore:
        """The event store of a service, publishing to its own topic."""
        return cls(source=f"/iopnet/{service}", topic=topic_of(service))

    def envelopes(
        self, stream_id: str, expected_version: int, events: Sequence[DomainEvent], cause: Cause
    ) -> list[EventEnvelope]:
        return [
            EventEnvelope(
                source=self.source,
                type=event.event_type,
                subject=event.subject,
                siteid=event.site_id,
                streamid=stream_id,
                streamversion=expected_version + offset,
                correlationid=cause.correlation_id,
                causationid=cause.causation_id,
                schemaversion=event.schema_version,
                data=event.model_dump(mode="json"),
            )
            for offset, event in enumerate(events, start=1)
        ]

    async def append(
        self,
        conn: Connection,
        stream_id: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        cause: Cause,
        *,
        topic: str | None = None,
        keys: dict[str, bytes] | None = None,
        riders: Riders | None = None,
    ) -> list[EventEnvelope]:
        """Record events at the end of a stream that must be at ``expected_version``.

        They are published to the service's topic unless ``topic`` names another.
        ``keys``: data keys by subject this transaction has read already (a unit of
        work's); a key it lacks is made or read, and added. ``riders``: writes the
        statement makes too. A conflict raises with them undone only by the caller's
        rollback, as it does the writes made before the append.
        """
        if not events:
            return []
        new_version = expected_version + len(events)
        with tracer.start_as_current_span("eventstore.append", attributes={
            "iopnet.stream_id": stream_id, "iopnet.events": len(events),
        }):
            return await self._append(conn, stream_id, expected_version, new_version, events,
                                      cause, topic or self.topic, {} if keys is None else keys,
                                      riders)

    async def _append(
        self, conn: Connection, stream_id: str, expected_version: int, new_version: int,
        events: Sequence[DomainEvent], cause: Cause, topic: str, keys: dict[str, bytes],
        riders: Riders | None,
    ) -> list[EventEnvelope]:
        envelopes = self.envelopes(stream_id, expected_version, events, cause)
        stored = await _sealed(conn, events, envelopes, keys)
        topics = [topic if event.published else None for event in events]
        published = any(to is not None for to in topics)
        riding = riders(events, envelopes) if riders is not None else None
        statement = _APPEND_TO_NEW if expected_version == 0 else _APPEND
        ridden: list[object] = []
        if riding:
            ctes, first = [], _APPEND_ARGS + 1
            for n, rider in enumerate(riding):
                ctes.append(f", r{n} AS ({rider.sql(first, _MOVED)})")
                first += len(rider.args)
                ridden += rider.args
            statement = _append_statement(_TO_NEW if expected_version == 0 else _ONTO,
                                          "".join(ctes))
        advanced = await conn.fetchval(
            statement, stream_id, expected_version, new_version, stored, topics,
            (current_trace_context() or None) if published else None,
            self.channel if published else None, *ridden)
        if not advanced:
            raise ConcurrencyConflict(stream_id, expected_version,
                                      await self.version(conn, stream_id))
        for envelope in envelopes:
            EVENTS_APPENDED.labels(envelope.type).inc()
        return envelopes

    async def append_streams(
        self, conn: Connection, appendings: Sequence[Appending], cause: Cause, *,
        keys: dict[str, bytes] | None = None,
    ) -> list[list[EventEnvelope]]:
        """``append`` for several streams in one statement: all of them, or (a stale
        expected version: ConcurrencyConflict) none. The envelopes, stream by stream."""
        appendings = [a for a in appendings if a.events]
        if not appendings:
            return []
        keys = {} if keys is None else keys
        with tracer.start_as_current_span("eventstore.append_streams", attributes={
            "iopnet.streams": len(appendings),
            "iopnet.events": sum(len(a.events) for a in appendings),
        }):
            envelopes = [self.envelopes(a.stream_id, a.expected_version, a.events, cause)
                         for a in appendings]
            stored: list[dict[str, object]] = []
            topics: list[str | None] = []
            for appending, its in zip(appendings, envelopes, strict=True):
                stored += await _sealed(conn, appending.events, its, keys)
                topics += [appending.topic or self.topic if event.published else None
                           for event in appending.events]
            published = any(to is not None for to in topics)
            try:
                advanced = await conn.fetchval(
                    _APPEND_TO_STREAMS, [a.stream_id for a in appendings],
                    [a.expected_version for a in appendings],
                    [a.expected_version + len(a.events) for a in appendings], stored, topics,
                    (current_trace_context() or None) if published else None,
                    self.channel if published else None)
            except asyncpg.UniqueViolationError as made_meanwhile:
                if made_meanwhile.constraint_name not in _A_STREAM_MADE:
                    raise
                detail = str(made_meanwhile.detail)
                made = next((a for a in appendings
                             if a.expected_version == 0 and f"({a.stream_id}" in detail),
                            next(a for a in appendings if a.expected_version == 0))
                raise ConcurrencyConflict(made.stream_id, 0, 1) from made_meanwhile
            if not advanced:
                await self._stale(conn, appendings)
            for envelope in (e for its in envelopes for e in its):
                EVENTS_APPENDED.labels(envelope.type).inc()
            return envelopes

    async def _stale(self, conn: Connection, appendings: Sequence[Appending]) -> None:
        versions = {row["stream_id"]: row["version"] for row in await conn.fetch(
            "SELECT stream_id, version FROM event_streams WHERE stream_id = ANY($1::text[])",
            [a.stream_id for a in appendings])}
        for appending in appendings:
            actual = int(versions.get(appending.stream_id) or 0)
            if actual != appending.expected_version:
                raise ConcurrencyConflict(appending.stream_id, appending.expected_version,
                                          actual)
        raise ConcurrencyConflict(appendings[0].stream_id, appendings[0].expected_version,
                                  appendings[0].expected_version)

    async def version(self, conn: Connection, stream_id: str) -> int:
        version = await conn.fetchval(
            "SELECT version FROM event_streams WHERE stream_id = $1", stream_id
        )
        return int(version or 0)

    async def read_stream(self, conn: Connection, stream_id: str, *,
                          keys: dict[str, bytes] | None = None,
                          zones: dict[str, str] | None = None,
                          visible_in: str | None = None) -> list[EventEnvelope]:
        """The stream's events, sealed data opened with the data keys read alongside (one
        statement); the live keys found are added to ``keys`` when given, and the time
        zones of the sites its events name to ``zones``. ``visible_in``: a site-confined
        table of the service's (never input) whose row for the stream's patient the
        transaction must see, or the stream reads as empty."""
        return (await self.read_streams(conn, [stream_id], keys=keys, zones=zones,
                                        visible_in=visible_in)).get(stream_id, [])

    async def read_streams(self, conn: Connection, stream_ids: Sequence[str], *,
                           keys: dict[str, bytes] | None = None,
                           zones: dict[str, str] | None = None,
                           visible_in: str | None = None
                           ) -> dict[str, list[EventEnvelope]]:
        """``read_stream`` for several streams in one statement; a stream without events
        is absent from the answer."""
        rows = await conn.fetch(_read_statement(zones is not None, visible_in),
                                list(stream_ids))
        if keys is not None:
            keys.update((row["envelope"]["subject"], row["data_key"]) for row in rows
                        if row["data_key"] is not None)
        if zones is not None:
            zones.update((row["envelope"]["siteid"], row["time_zone"]) for row in rows
                         if row["time_zone"] is not None)
        streams: dict[str, list[EventEnvelope]] = {}
        for row in rows:
            streams.setdefault(row["stream_id"], []).append(
                EventEnvelope.model_validate(_open(row["envelope"], row["data_key"])))
        return streams

    async def read_all(
        self, conn: Connection, *, after: Checkpoint = Checkpoint(), limit: int = 1000
    ) -> list[RecordedEvent]:
        """Every stream's events in commit-safe order, after a checkpoint (for rebuilds).

        Only events of transactions older than every transaction still in flight
        are read, so an event that commits later can never sort before the
        checkpoint: nothing is skipped. What is in flight is read next time.
        """
        rows = await conn.fetch(
            "SELECT transaction_id::text::bigint AS transaction_id, global_position, envelope"
            " FROM events WHERE (transaction_id, global_position) > ($1::text::xid8, $2)"
            " AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())"
            " ORDER BY transaction_id, global_position LIMIT $3",
            str(after.transaction_id), after.global_position, limit,
        )
        envelopes = await open_stored(conn, [row["envelope"] for row in rows])
        return [RecordedEvent(Checkpoint(row["transaction_id"], row["global_position"]), envelope)
                for row, envelope in zip(rows, envelopes, strict=True)]


async def _sealed(conn: Connection, events: Sequence[DomainEvent],
                  envelopes: list[EventEnvelope], keys: dict[str, bytes]
                  ) -> list[dict[str, object]]:
    """The envelopes as the events table keeps them: personal data sealed."""
    stored = []
    for event, envelope in zip(events, envelopes, strict=True):
        row = _jsonable(envelope)
        if event.sealed_fields:
            if event.subject not in keys:
                keys[event.subject] = await data_keys.key_for(conn, event.subject)
            data = dict(envelope.data)
            key = data_keys.cipher(keys[event.subject])
            for name in event.sealed_fields:
                if data.get(name) is not None:
                    data[name] = data_keys.seal(key, data[name], _seal_context(envelope.id, name))
            row = {**row, "data": data}
        stored.append(row)
    return stored


async def open_stored(conn: Connection, stored: list[dict[str, Any]]) -> list[EventEnvelope]:
    """Stored envelopes with their sealed data opened, or None where the key is gone."""
    sealed = [row for row in stored if any(map(data_keys.is_sealed, row["data"].values()))]
    keys = await data_keys.keys_of(conn, (row["subject"] for row in sealed)) if sealed else {}
    return [EventEnvelope.model_validate(_open(row, keys.get(row["subject"]))) for row in stored]


async def open_sealed(conn: Connection, envelopes: list[EventEnvelope]) -> list[EventEnvelope]:
    """``open_stored`` for envelopes already validated from the stored JSON (a rebuild's
    fast path): only those with sealed data are copied, opened."""
    sealed = [e for e in envelopes if any(map(data_keys.is_sealed, e.data.values()))]
    if not sealed:
        return envelopes
    keys = await data_keys.keys_of(conn, (e.subject for e in sealed))
    return [e if not any(map(data_keys.is_sealed, e.data.values()))
            else e.model_copy(update={"data": _opened(e.data, e.id, keys.get(e.subject))})
            for e in envelopes]


def _open(row: dict[str, Any], key: bytes | None) -> dict[str, Any]:
    data = row["data"]
    if not any(map(data_keys.is_sealed, data.values())):
        return row
    return {**row, "data": _opened(data, row["id"], key)}


def _opened(data: dict[str, Any], event_id: str, key: bytes | None) -> dict[str, Any]:
    opener = None if key is None else data_keys.cipher(key)
    return {
        name: (value if not data_keys.is_sealed(value) else None if opener is None
               else data_keys.unseal(opener, value, _seal_context(event_id, name)))
        for name, value in data.items()
    }


def _seal_context(event_id: str, field: str) -> str:
    return f"{event_id}/{field}"


def _jsonable(envelope: EventEnvelope) -> dict[str, object]:
    return envelope.model_dump(mode="json")
