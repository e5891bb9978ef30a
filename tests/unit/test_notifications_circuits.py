"""A circuit per webhook endpoint: open after N failures in a row, for the cool-down."""

from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.domain.circuits import Circuits, endpoint_of

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
COOL = timedelta(seconds=60)
HOOK = endpoint_of("https://ehr.example.org/iopnet/hook?x=1")


def test_endpoints_are_scheme_host_and_port() -> None:
    assert HOOK == "https://ehr.example.org:443"
    assert endpoint_of("http://127.0.0.1:9000/a") == endpoint_of("http://127.0.0.1:9000/b")


def test_it_opens_after_the_threshold_and_closes_on_a_success() -> None:
    circuits = Circuits(3, COOL)
    for _ in range(2):
        circuits.failed(HOOK, NOW)
    assert circuits.open_until(HOOK, NOW) is None
    circuits.failed(HOOK, NOW)
    assert circuits.open_until(HOOK, NOW + timedelta(seconds=1)) == NOW + COOL
    assert circuits.open_until("https://other.example.org:443", NOW) is None
    # After the cool-down one send may try; one more failure opens it again at once.
    assert circuits.open_until(HOOK, NOW + COOL) is None
    circuits.failed(HOOK, NOW + COOL)
    assert circuits.open_until(HOOK, NOW + COOL) == NOW + 2 * COOL
    circuits.succeeded(HOOK)
    assert circuits.open_until(HOOK, NOW + COOL) is None
    circuits.failed(HOOK, NOW + COOL)
    assert circuits.open_until(HOOK, NOW + COOL) is None


def test_a_success_on_an_endpoint_that_never_failed_leaves_it_closed() -> None:
    circuits = Circuits(3, COOL)
    circuits.succeeded("https://receiver.example:443")
    assert circuits.open_until("https://receiver.example:443", NOW) is None
