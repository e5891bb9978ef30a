"""A broker outage (the broker SIGKILLed): writes keep being accepted, and everything arrives
once Kafka is back. Runs on every infrastructure path, on a broker of its own."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import eventually
from tests.e2e.client import Api
from tests.e2e.conftest import Site, onboard_site, running_stack
from tests.e2e.journeys import admit
from tests.e2e.receivers import MailCatcher
from tests.fixtures.infra import Endpoints
from tests.fixtures.own_infra import OwnBroker, own_broker

pytestmark = pytest.mark.e2e

CONSUMERS = ("plans", "sessions", "family", "notifications")


@pytest.fixture
async def broker() -> AsyncIterator[OwnBroker]:
    """A broker of the test's own, to kill: the suite's (local, env or a container) is
    shared. Whatever the infrastructure path, it runs from Kafka's jars."""
    async with own_broker() as own:
        yield own


@pytest.fixture
async def site_on_own_broker(infra: Endpoints, mail: MailCatcher, broker: OwnBroker,
                             http: httpx.AsyncClient, tmp_path: Path) -> AsyncIterator[Site]:
    async with running_stack(infra, mail, broker.bootstrap, tmp_path) as system:
        yield await onboard_site(Api(system, http, system.operator_key), "site-outage")


async def test_admissions_during_a_broker_outage_arrive_after_it(
    broker: OwnBroker, site_on_own_broker: Site,
) -> None:
    api = site_on_own_broker.api
    broker.kill()
    try:
        patient_id = await admit(api)  # recorded with its outbox row, not yet published
        backlog = (await api.get("intake", "/metrics")).text
        assert "iopnet_outbox_backlog 0.0" not in backlog
    finally:
        await broker.start()
    started = time.monotonic()

    async def arrived() -> bool:
        answers = [await api.get(s, f"/v1/patients/{patient_id}") for s in CONSUMERS]
        return all(a.status_code == 200 for a in answers)

    await eventually(arrived, timeout=90)
    print(f"\nafter the broker came back, the admission reached all four services in "
          f"{time.monotonic() - started:.1f}s")
