"""Readiness is the database only: a broker outage does not take the API out of service."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from iopctl.stack import spec_of
from iopnet.app import create_app
from services.plans.settings import PlansSettings
from tests.conftest import FreshDatabase

pytestmark = pytest.mark.integration


@pytest.fixture
def no_broker() -> Iterator[str]:
    """A loopback address that refuses connections: bound, never listening."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{bound.getsockname()[1]}"


async def readiness(database_url: str, bootstrap: str) -> httpx.Response:
    app = create_app(spec_of("plans"), PlansSettings(database_url=database_url,
                                                     kafka_bootstrap=bootstrap))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://plans",
    ) as client:
        return await client.get("/readyz")


async def test_ready_while_no_broker_answers(fresh_database: FreshDatabase, no_broker: str
                                             ) -> None:
    answer = await readiness(await fresh_database("ready"), no_broker)
    assert answer.status_code == 200
    assert answer.json()["checks"] == {"database": True}
