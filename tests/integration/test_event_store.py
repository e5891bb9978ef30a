import asyncio
from datetime import date

import asyncpg
import pytest

from iopnet.catalog import PatientReferred, ReferralSource
from iopnet.eventstore import Cause, ConcurrencyConflict, EventStore

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


async def test_read_all_is_in_global_order(db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn:
        for n in range(3):
            await STORE.append(conn, f"patient-{n}", 0, [referred(str(n))], CAUSE)
        recorded = await STORE.read_all(conn)
        assert [r.envelope.subject for r in recorded] == ["0", "1", "2"]
        assert len(await STORE.read_all(conn, after=recorded[0].global_position)) == 2
