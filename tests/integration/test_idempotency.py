"""Idempotency keys: one site's key never answers another's; answers expire; forgetting
the patient takes them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from iopnet.auth.guard import SiteDatabase
from iopnet.auth.principal import Principal
from iopnet.catalog import Scope
from iopnet.db import Connection, create_pool
from iopnet.forgetting import forget_patient
from iopnet.idempotency import Answer, Command, purge_expired, run_once
from iopnet.problems import Problem
from tests.conftest import FreshDatabase

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(fresh_database: FreshDatabase) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(await fresh_database("idem"))
    yield pool
    await pool.close()


def site(pool: asyncpg.Pool, site_id: str) -> SiteDatabase:
    return SiteDatabase(pool, Principal("k" * 12, site_id, frozenset({Scope.READ}), 600))


def answering(patient_id: str) -> tuple[list[str], Command]:
    ran: list[str] = []

    async def command(_: Connection) -> Answer:
        ran.append(patient_id)
        return Answer(201, {"patient_id": patient_id, "given_name": "Adaline"})

    return ran, command


async def test_keys_that_read_alike_across_sites_do_not_collide(pool: asyncpg.Pool) -> None:
    """'a:1' + 'k' and 'a' + '1:k' were one stored key, 'a:1:k'."""
    ran_a, first = answering("p-a")
    ran_b, second = answering("p-b")
    one = await run_once(site(pool, "a:1"), "k", "same request", first)
    two = await run_once(site(pool, "a"), "1:k", "same request", second)
    assert (one.body["patient_id"], two.body["patient_id"]) == ("p-a", "p-b")
    assert ran_a == ["p-a"] and ran_b == ["p-b"]


async def test_the_same_key_from_two_sites_runs_each_sites_command(pool: asyncpg.Pool
                                                                    ) -> None:
    """Keys are chosen by each site's client: two sites may well pick the same one."""
    ran_a, first = answering("p-a")
    ran_b, second = answering("p-b")
    one = await run_once(site(pool, "site-a"), "retry-1", "same request", first)
    two = await run_once(site(pool, "site-b"), "retry-1", "same request", second)
    assert (one.body["patient_id"], two.body["patient_id"]) == ("p-a", "p-b")
    assert ran_a == ["p-a"] and ran_b == ["p-b"]
    # Each site's retry replays its own answer.
    again = await run_once(site(pool, "site-b"), "retry-1", "same request", second)
    assert again.body["patient_id"] == "p-b" and ran_b == ["p-b"]
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys") == 2


async def test_an_answer_expires_after_72_hours_and_is_purged(pool: asyncpg.Pool) -> None:
    ran, command = answering("p-1")
    await run_once(site(pool, "s"), "k", "req", command)
    await run_once(site(pool, "s"), "k", "req", command)
    assert ran == ["p-1"]
    await pool.execute("UPDATE idempotency_keys SET created_at = now() - interval '73 hours'")
    await run_once(site(pool, "s"), "k", "req", command)
    assert ran == ["p-1", "p-1"]
    await pool.execute("UPDATE idempotency_keys SET created_at = now() - interval '73 hours'")
    async with pool.acquire() as conn:
        assert await purge_expired(conn) == 1
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys") == 0


async def test_forgetting_the_patient_deletes_the_answers_about_them(pool: asyncpg.Pool
                                                                     ) -> None:
    _, mine = answering("p-1")
    _, theirs = answering("p-2")
    await run_once(site(pool, "s"), "k1", "req", mine)
    await run_once(site(pool, "s"), "k2", "req", theirs)
    async with pool.acquire() as conn:
        await forget_patient(conn, "p-1", [])
    left = await pool.fetch("SELECT patient_id FROM idempotency_keys")
    assert [row["patient_id"] for row in left] == ["p-2"]


async def test_a_retry_replays_the_stored_answer_whole(pool: asyncpg.Pool) -> None:
    ran: list[str] = []

    async def admit(_: Connection) -> Answer:
        ran.append("admitted")
        return Answer(201, {"patient_id": "p-1", "n": len(ran)}, {"Location": "/v1/p-1"})

    first = await run_once(site(pool, "s"), "k", "req", admit)
    again = await run_once(site(pool, "s"), "k", "req", admit)
    assert ran == ["admitted"]
    assert again == first == Answer(201, {"patient_id": "p-1", "n": 1}, {"Location": "/v1/p-1"})
    assert await pool.fetchval("SELECT patient_id FROM idempotency_keys") == "p-1"


async def test_a_key_sent_again_with_another_request_is_refused(pool: asyncpg.Pool) -> None:
    ran, command = answering("p-1")
    await run_once(site(pool, "s"), "k", "req", command)
    with pytest.raises(Problem) as refused:
        await run_once(site(pool, "s"), "k", "another request", command)
    assert ran == ["p-1"]
    assert (refused.value.status, refused.value.slug) == (422, "idempotency-key-reused")
    assert refused.value.extensions["errors"] == [{"pointer": "header:Idempotency-Key"}]


async def test_the_same_key_from_another_site_runs_its_own_command(pool: asyncpg.Pool) -> None:
    ran_a, first = answering("p-a")
    ran_b, second = answering("p-b")
    await run_once(site(pool, "site-a"), "k", "req", first)
    two = await run_once(site(pool, "site-b"), "k", "req", second)
    assert two.body["patient_id"] == "p-b"
    assert ran_a == ["p-a"] and ran_b == ["p-b"]


async def test_without_a_key_every_request_runs_in_the_transaction(pool: asyncpg.Pool) -> None:
    ran: list[int] = []

    async def count(conn: Connection) -> Answer:
        ran.append(await conn.fetchval("SELECT 1"))
        return Answer(200, ["no patient here"])

    await run_once(site(pool, "s"), None, "req", count)
    await run_once(site(pool, "s"), None, "req", count)
    assert ran == [1, 1]
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys") == 0
    await run_once(site(pool, "s"), "k", "req", count)
    assert await pool.fetchval("SELECT patient_id FROM idempotency_keys") is None
