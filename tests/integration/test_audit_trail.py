"""The audit trail: monthly partitions, append-only everywhere, six years, purged only by
the audit administrator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date

import asyncpg
import pytest

from iopnet.auth.audit import AuditTrail
from iopnet.db import create_pool
from tests.conftest import FreshDatabase

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(fresh_database: FreshDatabase) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(await fresh_database("audit"))
    yield pool
    await pool.close()


async def audit(pool: asyncpg.Pool, at: str) -> None:
    await pool.execute("INSERT INTO audit_log (at, action, resource, outcome)"
                       " VALUES ($1::text::timestamptz, 'GET /v1/x', '/v1/x', 200)", at)


async def partition_of(pool: asyncpg.Pool, at: str) -> str:
    return str(await pool.fetchval(
        "SELECT tableoid::regclass::text FROM audit_log WHERE at = $1::text::timestamptz", at))


async def test_rows_land_in_their_month(pool: asyncpg.Pool) -> None:
    now = await pool.fetchval("SELECT now()::text")
    await audit(pool, now)
    this_month = await pool.fetchval("SELECT to_char(now(), 'YYYY_MM')")
    assert await partition_of(pool, now) == f"audit_log_{this_month}"


@pytest.mark.parametrize("change", [
    "UPDATE audit_log SET outcome = 500",
    "DELETE FROM audit_log",
    "TRUNCATE audit_log",
    "UPDATE {partition} SET outcome = 500",
    "DELETE FROM {partition}",
    "TRUNCATE {partition}",
])
async def test_no_row_is_ever_changed_or_deleted(pool: asyncpg.Pool, change: str) -> None:
    now = await pool.fetchval("SELECT now()::text")
    await audit(pool, now)
    partition = await partition_of(pool, now)
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await pool.execute(change.format(partition=partition))
    assert await pool.fetchval("SELECT count(*) FROM audit_log") == 1


async def test_only_whole_months_older_than_six_years_are_purged_by_the_admin(
    pool: asyncpg.Pool,
) -> None:
    await pool.execute("SELECT iopnet_audit_partition('2019-03-01')")
    await audit(pool, "2019-03-15T10:00:00+00")
    today = date.today()
    with pytest.raises(asyncpg.RaiseError, match="kept six years"):
        await pool.fetchval("SELECT iopnet_purge_audit($1)", today.replace(year=today.year - 5))
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL ROLE iopnet_api")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetchval("SELECT iopnet_purge_audit('2019-06-01')")
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL ROLE iopnet_audit_admin")
        assert await conn.fetchval("SELECT iopnet_purge_audit('2019-06-01')") == 1
    assert await pool.fetchval("SELECT count(*) FROM audit_log") == 0


async def test_rows_written_together_are_each_kept_even_beside_a_bad_one(
        pool: asyncpg.Pool) -> None:
    trail = AuditTrail(pool)
    rows = [("k1", "site-a", "POST /v1/referrals", f"/v1/referrals/{n}", 201, None)
            for n in range(40)]
    bad = ("k1", "site-a", "GET /v1/x", "/v1/\x00", 200, None)  # text cannot hold a NUL
    await asyncio.gather(*(trail.write(row) for row in [*rows[:20], bad, *rows[20:]]))
    kept = await pool.fetch("SELECT resource FROM audit_log ORDER BY id")
    assert [r["resource"] for r in kept] == [row[3] for row in rows]
