"""Appending to several streams in one statement, and reading several at once."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from iopnet.eventstore import Appending, Cause, ConcurrencyConflict, EventStore
from tests.integration.test_event_store import nudges, referred
from tests.integration.test_private_events import noted

pytestmark = pytest.mark.integration

STORE = EventStore(source="/iopnet/test", topic="iopnet.test.events")
CAUSE = Cause("corr", "cause")


async def test_several_streams_are_appended_at_once_in_order_with_one_nudge(
    db_pool: asyncpg.Pool,
) -> None:
    async with db_pool.acquire() as conn:
        await STORE.append(conn, "patient-b", 0, [referred("b")], CAUSE)

    async def append(conn: asyncpg.Connection) -> None:
        saved = await STORE.append_streams(conn, [
            Appending("patient-a", 0, [referred("a"), referred("a")]),
            Appending("patient-b", 1, [referred("b")], topic="iopnet.other.events"),
        ], CAUSE)
        assert [[e.streamversion for e in its] for its in saved] == [[1, 2], [2]]

    assert await nudges(db_pool, append) == ["", "end"]
    async with db_pool.acquire() as conn:
        assert {s: await STORE.version(conn, s) for s in ("patient-a", "patient-b")} == {
            "patient-a": 2, "patient-b": 2}
        queued = await conn.fetch("SELECT topic, envelope FROM outbox ORDER BY position")
        streams = await STORE.read_streams(conn, ["patient-a", "patient-b", "patient-c"])
    assert [(q["envelope"]["streamid"], q["envelope"]["streamversion"], q["topic"])
            for q in queued[1:]] == [("patient-a", 1, STORE.topic), ("patient-a", 2, STORE.topic),
                                     ("patient-b", 2, "iopnet.other.events")]
    assert {s: [e.streamversion for e in its] for s, its in streams.items()} == {
        "patient-a": [1, 2], "patient-b": [1, 2]}


@pytest.mark.parametrize("stale", [Appending("patient-b", 0, [referred("b")]),
                                   Appending("patient-b", 2, [referred("b")])])
async def test_one_stale_stream_is_a_conflict_and_writes_nothing(
    db_pool: asyncpg.Pool, stale: Appending,
) -> None:
    async with db_pool.acquire() as conn:
        await STORE.append(conn, "patient-b", 0, [referred("b")], CAUSE)

    async def append(conn: asyncpg.Connection) -> None:
        with pytest.raises(ConcurrencyConflict) as conflict:
            await STORE.append_streams(conn, [
                Appending("patient-a", 0, [referred("a")]), stale], CAUSE)
        assert (conflict.value.stream_id, conflict.value.actual) == ("patient-b", 1)

    assert await nudges(db_pool, append) == ["end"]
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM events") == 1
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 1
        assert await conn.fetchval("SELECT count(*) FROM event_streams") == 1
        assert await STORE.version(conn, "patient-b") == 1


async def test_concurrent_writers_of_overlapping_streams_one_wins(db_pool: asyncpg.Pool
                                                                  ) -> None:
    async with db_pool.acquire() as conn:
        await STORE.append(conn, "patient-b", 0, [referred("b")], CAUSE)

    async def write(other: str) -> bool:
        async with db_pool.acquire() as conn, conn.transaction():
            try:
                await STORE.append_streams(conn, [
                    Appending(other, 0, [referred()]),
                    Appending("patient-b", 1, [referred("b")])], CAUSE)
            except ConcurrencyConflict:
                return False
            await asyncio.sleep(0.05)  # hold the row lock while the others wait
            return True

    results = await asyncio.gather(*(write(f"patient-{n}") for n in range(5)))
    assert results.count(True) == 1
    async with db_pool.acquire() as conn:
        assert await STORE.version(conn, "patient-b") == 2
        assert await conn.fetchval("SELECT count(*) FROM events") == 3


async def test_a_stream_made_meanwhile_is_a_conflict(db_pool: asyncpg.Pool) -> None:
    made = asyncio.Event()

    async def make() -> None:
        async with db_pool.acquire() as conn, conn.transaction():
            await STORE.append(conn, "patient-a", 0, [referred("a")], CAUSE)
            made.set()
            await asyncio.sleep(0.1)  # the other writer waits on this stream's key

    async def write() -> None:
        await made.wait()
        async with db_pool.acquire() as conn:
            with pytest.raises(ConcurrencyConflict):
                async with conn.transaction():
                    await STORE.append_streams(conn, [
                        Appending("patient-b", 0, [referred("b")]),
                        Appending("patient-a", 0, [referred("a")])], CAUSE)

    await asyncio.gather(make(), write())
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM events") == 1
        assert await STORE.version(conn, "patient-b") == 0


async def test_sealed_data_of_several_streams_is_sealed_and_read_in_clear(
    db_pool: asyncpg.Pool,
) -> None:
    async with db_pool.acquire() as conn:
        keys: dict[str, bytes] = {}
        await STORE.append_streams(conn, [
            Appending("note-1", 0, [noted("Adaline")]),
            Appending("note-2", 0, [noted("Ada")])], CAUSE, keys=keys)
        assert list(keys) == ["p-1"]
        stored = await conn.fetch("SELECT envelope FROM events ORDER BY global_position")
        assert all("Ada" not in str(row["envelope"]) for row in stored)
        streams = await STORE.read_streams(conn, ["note-1", "note-2"])
    assert [streams[s][0].data["identity"] for s in ("note-1", "note-2")] == [
        {"given_name": "Adaline"}, {"given_name": "Ada"}]
