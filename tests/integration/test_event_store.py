import asyncio
from collections.abc import Awaitable, Callable
from datetime import date

import asyncpg
import pytest

from iopnet.catalog import PatientReferred, ReferralSource
from iopnet.eventstore import Cause, Checkpoint, ConcurrencyConflict, EventStore, RecordedEvent
from tests.conftest import eventually

pytestmark = pytest.mark.integration

STORE = EventStore(source="/iopnet/test", topic="iopnet.test.events")
CAUSE = Cause("corr", "cause")


def referred(patient_id: str = "p-1") -> PatientReferred:
    return PatientReferred(patient_id=patient_id, site_id="s-1", referral_id="r-1",
                           source=ReferralSource.SELF, referred_on=date(2026, 11, 25))


async def test_append_then_read_the_stream(db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn:
        await STORE.append(conn, "patient-p-1", 0, [referred(), referred()], CAUSE)
        stream = await STORE.read_stream(conn, "patient-p-1")
        assert [e.streamversion for e in stream] == [1, 2]
        assert await STORE.version(conn, "patient-p-1") == 2
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 2


async def test_stale_expected_version_is_a_conflict_and_writes_nothing(
    db_pool: asyncpg.Pool,
) -> None:
    async with db_pool.acquire() as conn:
        await STORE.append(conn, "patient-p-1", 0, [referred()], CAUSE)
        with pytest.raises(ConcurrencyConflict) as conflict:
            await STORE.append(conn, "patient-p-1", 0, [referred()], CAUSE)
        assert conflict.value.actual == 1
        assert len(await STORE.read_stream(conn, "patient-p-1")) == 1
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 1


async def test_concurrent_writers_at_one_version_one_wins(db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn:
        await STORE.append(conn, "patient-p-1", 0, [referred()], CAUSE)

    async def write() -> bool:
        async with db_pool.acquire() as conn, conn.transaction():
            try:
                await STORE.append(conn, "patient-p-1", 1, [referred()], CAUSE)
            except ConcurrencyConflict:
                return False
            await asyncio.sleep(0.05)  # hold the row lock while the other waits
            return True

    results = await asyncio.gather(*(write() for _ in range(5)))
    assert results.count(True) == 1
    async with db_pool.acquire() as conn:
        assert await STORE.version(conn, "patient-p-1") == 2


async def test_rolled_back_transaction_leaves_no_event_and_no_outbox_row(
    db_pool: asyncpg.Pool,
) -> None:
    async with db_pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await STORE.append(conn, "patient-p-1", 0, [referred()], CAUSE)
                raise RuntimeError("the command failed after appending")
        assert await conn.fetchval("SELECT count(*) FROM events") == 0
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0


async def settled(conn: asyncpg.Connection, count: int, after: Checkpoint = Checkpoint()
                  ) -> list[RecordedEvent]:
    """What read_all returns once transactions in flight elsewhere on the server have ended
    (they hold back what committed after they began, wherever they run)."""
    recorded: list[RecordedEvent] = []

    async def all_read() -> bool:
        recorded[:] = await STORE.read_all(conn, after=after)
        return len(recorded) >= count

    await eventually(all_read, timeout=30)
    return recorded


async def test_read_all_is_in_global_order(db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn:
        for n in range(3):
            await STORE.append(conn, f"patient-{n}", 0, [referred(str(n))], CAUSE)
        recorded = await settled(conn, 3)
        assert [r.envelope.subject for r in recorded] == ["0", "1", "2"]
        assert len(await STORE.read_all(conn, after=recorded[0].checkpoint)) == 2


async def test_read_all_never_skips_an_event_that_commits_late(db_pool: asyncpg.Pool) -> None:
    """The slow writer takes the lower position and commits last: a reader still sees it."""
    async with db_pool.acquire() as slow, db_pool.acquire() as fast, \
            db_pool.acquire() as reader:
        slow_tx = slow.transaction()
        await slow_tx.start()
        await STORE.append(slow, "patient-slow", 0, [referred("slow")], CAUSE)
        await STORE.append(fast, "patient-fast", 0, [referred("fast")], CAUSE)
        positions = dict(await reader.fetch("SELECT stream_id, global_position FROM events"))
        assert positions == {"patient-fast": 2}  # the slow one is not committed yet

        seen = await STORE.read_all(reader)
        assert seen == []  # fast committed after slow began: held back, not skipped
        await slow_tx.commit()
        first = await settled(reader, 2)
        assert [r.envelope.subject for r in first] == ["slow", "fast"]
        assert await STORE.read_all(reader, after=first[-1].checkpoint) == []


async def test_a_reader_moves_past_what_is_in_flight_only_once_it_settles(
    db_pool: asyncpg.Pool,
) -> None:
    async with db_pool.acquire() as conn, db_pool.acquire() as writer:
        await STORE.append(conn, "patient-0", 0, [referred("0")], CAUSE)
        [done] = await settled(conn, 1)
        async with writer.transaction():
            await STORE.append(writer, "patient-1", 0, [referred("1")], CAUSE)
            assert await STORE.read_all(conn, after=done.checkpoint) == []
        [late] = await settled(conn, 1, done.checkpoint)
        assert late.envelope.subject == "1"


async def nudges(db_pool: asyncpg.Pool, append: Callable[[asyncpg.Connection], Awaitable[None]]
                 ) -> list[str]:
    """The notifications the relay's channel received for what ``append`` did: a marker
    sent after it arrives last (one session's notifications arrive in commit order)."""
    received: list[str] = []

    def heard(*notification: object) -> None:
        received.append(str(notification[-1]))

    async def ended() -> bool:
        return "end" in received

    async with db_pool.acquire() as listener, db_pool.acquire() as conn:
        await listener.add_listener(STORE.channel, heard)
        await append(conn)
        await conn.execute("SELECT pg_notify($1, 'end')", STORE.channel)
        await eventually(ended, timeout=10)
        await listener.remove_listener(STORE.channel, heard)
    return received


async def test_an_append_enqueues_its_events_in_order_and_nudges_the_relay_once(
    db_pool: asyncpg.Pool,
) -> None:
    async def append(conn: asyncpg.Connection) -> None:
        await STORE.append(conn, "patient-p-1", 0, [referred(), referred()], CAUSE)
        await STORE.append(conn, "patient-p-1", 2, [referred()], CAUSE)

    assert await nudges(db_pool, append) == ["", "", "end"]
    async with db_pool.acquire() as conn:
        events = await conn.fetch("SELECT event_id, stream_version, event_type, topic"
                                  " FROM events ORDER BY global_position")
        queued = await conn.fetch("SELECT topic, envelope FROM outbox ORDER BY position")
    assert [e["stream_version"] for e in events] == [1, 2, 3]
    assert {e["event_type"] for e in events} == {referred().event_type}
    assert [q["envelope"]["id"] for q in queued] == [str(e["event_id"]) for e in events]
    assert [q["envelope"]["streamversion"] for q in queued] == [1, 2, 3]
    assert {q["topic"] for q in queued} == {STORE.topic}


async def test_a_conflicting_append_nudges_nobody(db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn:
        await STORE.append(conn, "patient-p-1", 0, [referred()], CAUSE)

    async def append(conn: asyncpg.Connection) -> None:
        for stale in (0, 2):
            with pytest.raises(ConcurrencyConflict):
                await STORE.append(conn, "patient-p-1", stale, [referred()], CAUSE)

    assert await nudges(db_pool, append) == ["end"]
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 1
