"""What ops see: /metrics figures that move when a worker stops, and logs without patients."""

from __future__ import annotations

import re

import pytest

from iopctl.stack import Stack
from tests.conftest import eventually
from tests.e2e.client import Api
from tests.e2e.conftest import Site
from tests.e2e.journeys import admit

pytestmark = pytest.mark.e2e


async def gauge(api: Api, service: str, name: str) -> float:
    """The sum of a metric's samples on a service's /metrics."""
    text = (await api.get(service, "/metrics")).text
    return sum(float(value) for value in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text,
                                                     flags=re.MULTILINE))


async def test_metrics_expose_latency_backlog_and_lag(operator: Api, north: Site) -> None:
    await admit(north.api)
    text = (await north.api.get("intake", "/metrics")).text
    for name in ("iopnet_http_request_duration_seconds_bucket", "iopnet_outbox_backlog",
                 "iopnet_outbox_oldest_age_seconds", "iopnet_dead_letters",
                 "iopnet_events_appended_total"):
        assert name in text, name
    assert 'route="/v1/patients/{patient_id}/admission"' in text
    assert "iopnet_consumer_lag{" in (await north.api.get("sessions", "/metrics")).text


async def test_backlog_grows_while_the_relay_is_stopped(stack: Stack, north: Site) -> None:
    assert stack.pause("intake", "worker") == 0  # SIGTERM: a clean stop
    try:
        await admit(north.api)
        assert await gauge(north.api, "intake", "iopnet_outbox_backlog") > 0
        assert await gauge(north.api, "intake", "iopnet_outbox_oldest_age_seconds") > 0
    finally:
        stack.resume("intake", "worker")

    async def drained() -> bool:
        return await gauge(north.api, "intake", "iopnet_outbox_backlog") == 0

    await eventually(drained, timeout=20)


async def test_lag_grows_while_a_consumer_is_stopped(stack: Stack, north: Site) -> None:
    assert stack.pause("sessions", "worker") == 0
    try:
        await admit(north.api)

        async def lagging() -> bool:
            return await gauge(north.api, "sessions", "iopnet_consumer_lag") > 0

        await eventually(lagging, timeout=10)
    finally:
        stack.resume("sessions", "worker")

    async def caught_up() -> bool:
        return await gauge(north.api, "sessions", "iopnet_consumer_lag") == 0

    await eventually(caught_up, timeout=30)


async def test_logs_carry_no_patient_identity(stack: Stack, north: Site) -> None:
    await admit(north.api)  # journeys.admit refers "Ada Example", born 1990-04-02
    for log in stack.log_dir.glob("*.log"):
        text = log.read_text(errors="replace")
        for identifying in ("Ada", "Example", "1990-04-02"):
            assert identifying not in text, f"{identifying} in {log.name}"


async def test_an_api_stops_cleanly_on_sigterm_and_comes_back(stack: Stack, north: Site) -> None:
    assert stack.pause("family", "api") == 0
    stack.resume("family", "api")
    await stack.wait_ready()
    assert (await north.api.get("family", "/healthz")).status_code == 200
