"""A broker outage: writes keep being accepted, and everything arrives once Kafka is back."""

from __future__ import annotations

import time

import pytest

from iopctl import kafka
from tests.conftest import eventually
from tests.e2e.client import Api
from tests.e2e.conftest import Site
from tests.e2e.journeys import admit
from tests.fixtures.infra import Endpoints

pytestmark = pytest.mark.e2e

CONSUMERS = ("plans", "sessions", "family", "notifications")


async def test_admissions_during_a_broker_outage_arrive_after_it(
    infra: Endpoints, north: Site,
) -> None:
    if infra.source != "local":
        pytest.skip("stops and starts the broker: only with the local runner's Kafka")
    await kafka.down()
    try:
        patient_id = await admit(north.api)  # recorded with its outbox row, not yet published
        backlog = (await north.api.get("intake", "/metrics")).text
        assert "iopnet_outbox_backlog 0.0" not in backlog
    finally:
        await kafka.up()
    started = time.monotonic()

    async def arrived(api: Api = north.api) -> bool:
        answers = [await api.get(s, f"/v1/patients/{patient_id}") for s in CONSUMERS]
        return all(a.status_code == 200 for a in answers)

    await eventually(arrived, timeout=90)
    print(f"\nafter the broker came back, the admission reached all four services in "
          f"{time.monotonic() - started:.1f}s")
