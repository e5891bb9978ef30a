"""Dead letters, the records parked behind them, and how an operator resolves them.

- A record the consumer cannot apply for good (undecodable, invalid, or a
  projection that fails again and again) becomes a dead letter, kept with its
  raw bytes, headers and key (the patient or site). Its headers are kept byte for
  byte (``raw_headers``, base64): a NUL or invalid UTF-8 in one, which no text
  column takes, must not make the consumer crash on the same record forever.
- Later records with the same key on the same partition are **parked** behind
  it: kept, not applied, while the partition's offset moves on. A patient's
  events are never applied around a gap, and other patients are not held up.
- An operator resolves a dead letter by redriving it (applied through the
  consumer's own ``Projection.apply``) or discarding it (with a reason). Either
  way the resolution says who, when and why, and the parked records are then
  applied in offset order. One that fails becomes the key's new dead letter and
  the rest stay parked behind it.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import asyncpg

from iopnet.catalog import CATALOG
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.inbox import Position
from iopnet.kafka_binding import MalformedRecord, from_record
from iopnet.provenance import UntrustedRecord

if TYPE_CHECKING:
    from aiokafka import ConsumerRecord

    from iopnet.consumer import Projection, ProvenanceCheck


@dataclass(frozen=True)
class Letter:
    """A Kafka record as the consumer read it, or as a dead letter or parked record keeps it."""

    topic: str
    partition: int
    offset: int
    key: str | None
    #: Readable: what a text column takes (see ``readable``).
    headers: Mapping[str, str]
    value: bytes
    #: Exactly as they came; none: ``headers`` are exact.
    raw_headers: Sequence[tuple[str, bytes]] = ()

    @classmethod
    def of(cls, record: ConsumerRecord[bytes, bytes]) -> Letter:
        headers = {readable(name): readable(raw) for name, raw in record.headers}
        key = readable(record.key) if record.key else headers.get("ce_subject")
        return cls(record.topic, record.partition, record.offset, key, headers,
                   record.value or b"", tuple(record.headers))

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Letter:
        raw = tuple((base64.b64decode(name).decode(), base64.b64decode(value))
                    for name, value in row["raw_headers"] or ())
        return cls(row["topic"], row["partition"], row["offset"], row["record_key"],
                   row["headers"], bytes(row["value"]), raw)

    @property
    def wire_headers(self) -> list[tuple[str, bytes]]:
        """The headers as the record carried them."""
        return list(self.raw_headers) or [(k, v.encode()) for k, v in self.headers.items()]

    @property
    def encoded_headers(self) -> list[list[str]]:
        """``raw_headers`` as stored: ``[name, value]`` pairs, each in base64."""
        return [[_base64(name.encode()), _base64(raw)] for name, raw in self.wire_headers]

    @property
    def position(self) -> Position:
        return Position(self.topic, self.partition, self.offset)


def readable(raw: str | bytes) -> str:
    """Text any Postgres column takes: invalid UTF-8 and NULs become U+FFFD."""
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    return text.replace("\x00", "\ufffd")


def _base64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def believe(letter: Letter, provenance: ProvenanceCheck | None
            ) -> EventEnvelope | MalformedRecord | None:
    """The record's envelope; or why it is refused (malformed, or forged: see
    iopnet.provenance); or None for a type this release does not know, skipped."""
    try:
        envelope = from_record(letter.value, letter.wire_headers)
        if envelope.type not in CATALOG:
            return None
        if provenance is not None:
            provenance(letter.topic, envelope)
    except MalformedRecord as refused:
        return refused
    return envelope


def holds_its_key(error: BaseException | None) -> bool:
    """Whether later records with the letter's key wait behind it. A forged record
    (``UntrustedRecord``) never belonged to its key's history: holding the key would
    let whoever can write a topic stop a site's or a patient's real events."""
    return not isinstance(error, UntrustedRecord)


async def store(conn: Connection, letter: Letter, error: BaseException | None) -> int:
    """Keep ``letter`` as a dead letter; its id. Only a letter that holds its key is
    stored with it (``blocking`` finds it)."""
    dead_letter_id: int = await conn.fetchval(
        "INSERT INTO dead_letters (topic, partition, \"offset\", record_key, event_id,"
        " event_type, error, headers, raw_headers, value)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        letter.topic, letter.partition, letter.offset,
        letter.key if holds_its_key(error) else None,
        letter.headers.get("ce_id"), letter.headers.get("ce_type"), readable(repr(error)),
        dict(letter.headers), letter.encoded_headers, letter.value,
    )
    return dead_letter_id


async def park(conn: Connection, letter: Letter, dead_letter_id: int) -> None:
    """Keep ``letter`` unapplied behind the dead letter of its key."""
    await conn.execute(
        "INSERT INTO parked_records (dead_letter_id, topic, partition, \"offset\", record_key,"
        " headers, raw_headers, value) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (topic, partition, \"offset\") DO NOTHING",
        dead_letter_id, letter.topic, letter.partition, letter.offset, letter.key,
        dict(letter.headers), letter.encoded_headers, letter.value,
    )


async def blocking(conn: Connection, topic: str, partition: int, keys: Collection[str]
                   ) -> dict[str, int]:
    """The open dead letter of each of ``keys`` on the partition, by key.

    Locked FOR SHARE until the caller's transaction ends: a resolution of one of
    them waits for it, and then sees what it parked; a caller that waited for a
    resolution sees the key free, and applies its record after those released.
    """
    if not keys:
        return {}
    rows = await conn.fetch(
        "SELECT id, record_key FROM dead_letters WHERE resolved_at IS NULL AND topic = $1"
        " AND partition = $2 AND record_key = ANY($3::text[]) ORDER BY id FOR SHARE",
        topic, partition, list(keys))
    return {row["record_key"]: row["id"] for row in rows}


class Outcome(StrEnum):
    REDRIVEN = "redriven"
    DISCARDED = "discarded"
    FAILED = "failed"  # the redrive failed again: still open, its error updated


@dataclass
class Resolution:
    dead_letter_id: int
    outcome: Outcome
    released: int = 0
    error: str | None = None
    #: A parked record that failed in turn: the key's new dead letter.
    next_dead_letter: int | None = None


class NotOpen(LookupError):
    """No such dead letter, or it is resolved already."""


@dataclass(frozen=True)
class Resolver:
    """Resolves dead letters of one consumer through its projection."""

    projection: Projection
    provenance: ProvenanceCheck | None = None

    async def redrive(self, conn: Connection, dead_letter_id: int, *, by: str) -> Resolution:
        """Apply the dead letter again, then what was parked behind it, in order."""
        async with conn.transaction():
            letter = await self._open(conn, dead_letter_id)
            try:
                async with conn.transaction():
                    await self._apply(conn, letter)
            except Exception as failure:
                error = readable(repr(failure))
                await conn.execute("UPDATE dead_letters SET error = $2 WHERE id = $1",
                                   dead_letter_id, error)
                return Resolution(dead_letter_id, Outcome.FAILED, error=error)
            await _resolve(conn, dead_letter_id, Outcome.REDRIVEN, by, None)
            return await self._release(conn, Resolution(dead_letter_id, Outcome.REDRIVEN))

    async def discard(self, conn: Connection, dead_letter_id: int, *, by: str, reason: str
                      ) -> Resolution:
        """Give the dead letter up for good (``reason`` says why), then release its key."""
        if not reason.strip():
            raise ValueError("discarding a dead letter needs a reason")
        async with conn.transaction():
            await self._open(conn, dead_letter_id)
            await _resolve(conn, dead_letter_id, Outcome.DISCARDED, by, reason)
            return await self._release(conn, Resolution(dead_letter_id, Outcome.DISCARDED))

    async def redrive_all(self, conn: Connection, ids: Sequence[int], *, by: str
                          ) -> list[Resolution | NotOpen]:
        """Redrive ``ids`` in order, in one transaction (one log flush for them all).

        Optimistically first: each record applied without a savepoint of its own, and the
        released ones deleted at once, a few round trips fewer per dead letter. If anything
        fails, all of that is rolled back and they are redriven one by one, each in a
        savepoint (``redrive``), so that only those failing again stay open."""
        try:
            async with conn.transaction():
                return [await self._redrive_unguarded(conn, i, by) for i in ids]
        except Exception:  # whatever it was, the careful way below tells each apart
            pass
        return await self._each(conn, ids, lambda i: self.redrive(conn, i, by=by))

    async def discard_all(self, conn: Connection, ids: Sequence[int], *, by: str, reason: str
                          ) -> list[Resolution | NotOpen]:
        """Discard ``ids`` in order, in one transaction, each in a savepoint."""
        return await self._each(conn, ids, lambda i: self.discard(conn, i, by=by,
                                                                 reason=reason))

    async def _each(self, conn: Connection, ids: Sequence[int],
                    resolve: Callable[[int], Awaitable[Resolution]]
                    ) -> list[Resolution | NotOpen]:
        done: list[Resolution | NotOpen] = []
        async with conn.transaction():
            for dead_letter_id in ids:
                try:
                    done.append(await resolve(dead_letter_id))
                except NotOpen as skipped:
                    done.append(skipped)
        return done

    async def _redrive_unguarded(self, conn: Connection, dead_letter_id: int, by: str
                                 ) -> Resolution:
        """``redrive`` for when nothing fails: any failure is the caller's to roll back."""
        await self._apply(conn, await self._open(conn, dead_letter_id))
        await _resolve(conn, dead_letter_id, Outcome.REDRIVEN, by, None)
        parked = await conn.fetch(
            "SELECT * FROM parked_records WHERE dead_letter_id = $1 ORDER BY \"offset\"",
            dead_letter_id)
        for row in parked:
            await self._apply(conn, Letter.from_row(row))
        if parked:
            await conn.execute("DELETE FROM parked_records WHERE dead_letter_id = $1",
                               dead_letter_id)
        return Resolution(dead_letter_id, Outcome.REDRIVEN, released=len(parked))

    async def _open(self, conn: Connection, dead_letter_id: int) -> Letter:
        row = await conn.fetchrow(
            "SELECT * FROM dead_letters WHERE id = $1 AND resolved_at IS NULL FOR UPDATE",
            dead_letter_id)
        if row is None:
            raise NotOpen(f"dead letter {dead_letter_id} is not open (unknown or resolved)")
        return Letter.from_row(row)

    async def _apply(self, conn: Connection, letter: Letter) -> None:
        envelope = believe(letter, self.provenance)
        if isinstance(envelope, MalformedRecord):
            raise envelope
        if envelope is not None:  # a type this release does not know is skipped, as consumed
            await self.projection.apply(conn, envelope, letter.position)

    async def _release(self, conn: Connection, resolution: Resolution) -> Resolution:
        """Apply the records parked behind the resolved dead letter, in offset order."""
        parked = await conn.fetch(
            "SELECT * FROM parked_records WHERE dead_letter_id = $1 ORDER BY \"offset\"",
            resolution.dead_letter_id)
        for row in parked:
            letter = Letter.from_row(row)
            try:
                async with conn.transaction():
                    await self._apply(conn, letter)
            except Exception as failure:
                resolution.next_dead_letter = await self._fail_parked(conn, row["id"], letter,
                                                                      failure)
                return resolution
            await conn.execute("DELETE FROM parked_records WHERE id = $1", row["id"])
            resolution.released += 1
        return resolution

    async def _fail_parked(self, conn: Connection, parked_id: int, letter: Letter,
                           failure: BaseException) -> int:
        """The parked record becomes the key's dead letter; the rest wait behind it."""
        old = await conn.fetchval("DELETE FROM parked_records WHERE id = $1"
                                  " RETURNING dead_letter_id", parked_id)
        new = await store(conn, letter, failure)
        await conn.execute("UPDATE parked_records SET dead_letter_id = $2"
                           " WHERE dead_letter_id = $1", old, new)
        return new


async def _resolve(conn: Connection, dead_letter_id: int, outcome: Outcome, by: str,
                   reason: str | None) -> None:
    await conn.execute(
        "UPDATE dead_letters SET resolved_at = now(), resolution = $2, resolved_by = $3,"
        " reason = $4 WHERE id = $1", dead_letter_id, outcome.value, by, reason)


async def counts(conn: Connection) -> tuple[int, int]:
    """Open dead letters, and records parked behind them."""
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM dead_letters WHERE resolved_at IS NULL) AS open,"
        " (SELECT count(*) FROM parked_records) AS parked")
    assert row is not None
    return row["open"], row["parked"]
