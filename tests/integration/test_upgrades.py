"""A database made by the previous release comes up to this one with ``migrate``.

Each service's own upgrade tests (rows of that release becoming events) build
on ``tests.fixtures.previous_release``.
"""

from __future__ import annotations

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
    applied = await spec_of(service).migrate(dsn)
    assert "iopnet/006_private_events.sql" in applied
    assert not any(name.startswith(f"{service}/00{n}") for name in applied for n in "123")
