"""Per-key rate limits on a real Postgres: a minute's worth at once, then one request
every 60 / limit seconds, shared by every replica of a service's API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from iopnet.auth import keys
from iopnet.auth.ratelimit import record_and_take, retry_after
from iopnet.db import create_pool
from iopnet.migrate import apply_migrations
from tests.conftest import FreshDatabase

pytestmark = pytest.mark.integration


@pytest.fixture
async def replicas(fresh_database: FreshDatabase) -> AsyncIterator[tuple[asyncpg.Pool, ...]]:
    """Two API replicas' pools on one service database."""
    dsn = await fresh_database("ratelimit")
    await apply_migrations(dsn, [])
    pools = (await create_pool(dsn), await create_pool(dsn))
    yield pools
    for pool in pools:
        await pool.close()


async def take(pool: asyncpg.Pool, key_id: str, per_minute: int) -> int:
    async with pool.acquire() as conn:
        return await retry_after(conn, key_id, per_minute)


async def let_time_pass(pool: asyncpg.Pool, key_id: str, seconds: int) -> None:
    await pool.execute("UPDATE rate_limits SET due_at = due_at - make_interval(secs => $2)"
                       " WHERE key_id = $1", key_id, seconds)


async def test_a_minute_of_requests_at_once_then_one_per_interval(
        replicas: tuple[asyncpg.Pool, ...]) -> None:
    one, _ = replicas
    assert [await take(one, "k1", 6) for _ in range(6)] == [0] * 6
    wait = await take(one, "k1", 6)
    assert 9 <= wait <= 10  # one request every 10 s
    await let_time_pass(one, "k1", 10)
    assert await take(one, "k1", 6) == 0
    assert await take(one, "k1", 6) >= 9
    assert await take(one, "k2", 6) == 0  # another key has its own


async def test_replicas_share_one_limit_even_at_the_same_moment(
        replicas: tuple[asyncpg.Pool, ...]) -> None:
    answers = await asyncio.gather(*(take(replicas[n % 2], "k1", 10) for n in range(30)))
    assert answers.count(0) == 10
    assert all(wait >= 1 for wait in answers if wait)


async def issue(pool: asyncpg.Pool, key: keys.NewKey, per_minute: int, *,
                revoked: bool = False) -> None:
    await pool.execute(
        "INSERT INTO api_keys (key_id, site_id, secret_sha256, scopes, rate_limit_per_minute,"
        " issued_at, revoked_at) VALUES ($1, 'site-a', $2, '{read}', $3, now(),"
        " CASE WHEN $4 THEN now() END)", key.key_id, key.secret_sha256, per_minute, revoked)


async def look_up(pool: asyncpg.Pool, key_id: str, digest: str) -> bool | None:
    async with pool.acquire() as conn:
        record, taken = await record_and_take(conn, key_id, digest)
    return taken if record is not None else None


async def test_the_key_lookup_takes_from_the_same_budget_only_for_a_live_key_and_its_secret(
        replicas: tuple[asyncpg.Pool, ...]) -> None:
    one, other = replicas
    live, revoked = keys.new_key(), keys.new_key()
    await issue(one, live, 3)
    await issue(one, revoked, 3, revoked=True)
    assert await look_up(one, live.key_id, "0" * 64) is False  # a wrong secret spends nothing
    assert await look_up(one, revoked.key_id, revoked.secret_sha256) is False
    assert await look_up(one, "000000000000", live.secret_sha256) is None
    assert [await look_up(one, live.key_id, live.secret_sha256) for _ in range(2)] == [True] * 2
    assert await take(other, live.key_id, 3) == 0  # one budget with retry_after
    assert await look_up(other, live.key_id, live.secret_sha256) is False
    assert await take(one, live.key_id, 3) >= 19
