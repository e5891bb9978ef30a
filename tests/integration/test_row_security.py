"""The database itself keeps sites apart, whatever a query forgets to say."""

from collections.abc import AsyncIterator
from datetime import date

import asyncpg
import pytest

from iopctl.stack import migrations_of
from iopnet.auth import ALL_SITES, Principal, SiteDatabase
from iopnet.catalog import Scope
from iopnet.db import create_pool
from iopnet.migrate import apply_migrations
from tests.conftest import FreshDatabase

pytestmark = pytest.mark.integration


def caller(site_id: str) -> Principal:
    scopes = {Scope.OPERATOR} if site_id == ALL_SITES else {Scope.READ}
    return Principal("k", site_id, frozenset(scopes), 600)


@pytest.fixture
async def sessions_dsn(fresh_database: FreshDatabase) -> str:
    dsn = await fresh_database("rls")
    await apply_migrations(dsn, [migrations_of("sessions")])
    return dsn


@pytest.fixture
async def sessions_db(sessions_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(sessions_dsn)
    for n, site in enumerate(["site-a", "site-a", "site-b"]):
        await pool.execute(
            "INSERT INTO enrollments VALUES ($1, $2, 'iop', 3, 9, $3, $3, 'awaiting_schedule')",
            f"00000000-0000-0000-0000-00000000000{n}", site, date(2026, 12, 1),
        )
    yield pool
    await pool.close()


async def test_a_query_without_a_site_filter_sees_only_the_callers_site(
    sessions_db: asyncpg.Pool,
) -> None:
    async with SiteDatabase(sessions_db, caller("site-b")).transaction() as conn:
        rows = await conn.fetch("SELECT site_id FROM enrollments")  # no WHERE on purpose
    assert [r["site_id"] for r in rows] == ["site-b"]


async def test_the_operator_sees_every_site(sessions_db: asyncpg.Pool) -> None:
    async with SiteDatabase(sessions_db, caller(ALL_SITES)).transaction() as conn:
        assert await conn.fetchval("SELECT count(*) FROM enrollments") == 3


async def test_writing_another_sites_row_is_refused_by_the_database(
    sessions_db: asyncpg.Pool,
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with SiteDatabase(sessions_db, caller("site-b")).transaction() as conn:
            await conn.execute(
                "INSERT INTO enrollments VALUES ('00000000-0000-0000-0000-0000000000ff',"
                " 'site-a', 'iop', 3, 9, now(), now(), 'x')")
    async with SiteDatabase(sessions_db, caller("site-b")).transaction() as conn:
        changed = await conn.execute("UPDATE enrollments SET status = 'stolen'")
    assert changed == "UPDATE 1"  # only its own row


async def test_the_role_and_site_are_the_callers_whatever_the_site_id_holds(
    sessions_db: asyncpg.Pool,
) -> None:
    odd = "o'brien\\'; SELECT 1; --"
    async with SiteDatabase(sessions_db, caller(odd)).transaction() as conn:
        assert await conn.fetchval("SELECT current_user") == "iopnet_api"
        assert await conn.fetchval("SELECT current_setting('iopnet.site_id')") == odd
        assert await conn.fetchval("SELECT count(*) FROM enrollments") == 0


async def test_a_requests_role_and_site_end_with_its_transaction(
    sessions_dsn: str, sessions_db: asyncpg.Pool,
) -> None:
    """The API's pool skips the reset query: the next user of the connection must not
    inherit the request's role or site, whether it committed or failed."""
    pool = await create_pool(sessions_dsn, max_size=1, session_state=False)
    try:
        db = SiteDatabase(pool, caller("site-b"))
        async with db.transaction() as conn:
            await conn.execute("UPDATE enrollments SET status = 'seen'")
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await conn.execute("UPDATE enrollments SET status = 'lost'")
                raise RuntimeError("the command failed")
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT current_user") != "iopnet_api"
            assert not await conn.fetchval("SELECT current_setting('iopnet.site_id', true)")
            assert await conn.fetchval(
                "SELECT array_agg(DISTINCT status) FROM enrollments WHERE site_id = 'site-b'"
            ) == ["seen"]
    finally:
        await pool.close()


async def test_a_request_without_a_site_sees_nothing(sessions_db: asyncpg.Pool) -> None:
    async with sessions_db.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL ROLE iopnet_api")  # the role, but no site set
        assert await conn.fetchval("SELECT count(*) FROM enrollments") == 0


async def test_the_audit_trail_is_append_only(sessions_db: asyncpg.Pool) -> None:
    await sessions_db.execute(
        "INSERT INTO audit_log (action, resource, outcome) VALUES ('GET x', '/v1/x', 200)")
    for statement in ("UPDATE audit_log SET outcome = 500", "DELETE FROM audit_log"):
        with pytest.raises(asyncpg.PostgresError):
            await sessions_db.execute(statement)
    assert await sessions_db.fetchval("SELECT count(*) FROM audit_log") == 1
