"""A database made by the previous release comes up to this one with ``migrate``.

Each service's own upgrade tests (rows of that release becoming events) build
on ``tests.fixtures.previous_release``.
"""

from __future__ import annotations

import asyncpg
import pytest

from iopctl.stack import spec_of
from iopnet.topics import SERVICES
from tests.conftest import FreshDatabase
from tests.fixtures import previous_release

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("service", SERVICES)
async def test_the_previous_release_schema_migrates_to_this_one(
    fresh_empty_database: FreshDatabase, service: str,
) -> None:
    dsn = await fresh_empty_database(f"upgrade_{service}")
    await previous_release.build_database(dsn, service)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("INSERT INTO audit_log (at, action, resource, outcome) VALUES"
                           " (now() - interval '40 days', 'GET /v1/x', '/v1/x', 200),"
                           " (now(), 'GET /v1/y', '/v1/y', 404)")
        applied = await spec_of(service).migrate(dsn)
        assert "iopnet/006_private_events.sql" in applied
        assert not any(name.startswith(f"{service}/00{n}") for name in applied for n in "123")
        kept = await conn.fetch("SELECT resource, tableoid::regclass::text AS part"
                                " FROM audit_log ORDER BY at")
        assert [row["resource"] for row in kept] == ["/v1/x", "/v1/y"]
        assert all(row["part"] != "audit_log_default" for row in kept)
    finally:
        await conn.close()
