"""One partner cannot hurt the others through its webhook: not by answering slowly (a
deadline, a per-site cap, a circuit breaker, the send outside any transaction), not by
pointing it inside the network (SSRF), and a secret rotates with an overlap."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from dataclasses import replace
from datetime import date, timedelta
from ipaddress import ip_address

import httpx
import pytest

from iopnet.auth.keys import new_key
from iopnet.auth.registry import on_api_key_issued, on_site_onboarded
from iopnet.catalog import PatientReferred, ReferralSource, RiskSignal, RiskSignalRaised, Scope
from iopnet.catalog.network import ApiKeyIssued
from iopnet.envelope import utc_now
from services.notifications import commands
from services.notifications import settings as notification_settings
from services.notifications.api import settings as settings_api
from services.notifications.delivery import (
    Dispatcher,
    Postman,
    deliver_all_due,
    deliver_due_messages,
)
from services.notifications.domain import SiteChannels
from services.notifications.domain.addresses import Address
from services.notifications.domain.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from services.notifications.webhook_client import Resolver
from tests.conftest import eventually, free_port
from tests.e2e.receivers import WebhookReceiver
from tests.fixtures.dates import SITE_TIME_ZONE
from tests.integration.test_notifications_delivery import (  # noqa: F401 - fixtures
    CAUSE,
    NO_QUIET_HOURS,
    SECRET,
    SITE,
    Notifications,
    _app,
    _envelope_of,
    _issued_envelope,
    hooks,
    hooks_about,
    mail,
    notifications,
    referred,
)

pytestmark = pytest.mark.integration

SLOW_SITE = "site-slow"


@pytest.fixture
def n(notifications: Notifications) -> Notifications:  # noqa: F811 - the shared fixture
    return notifications


@pytest.fixture
def receiver(hooks: WebhookReceiver) -> WebhookReceiver:  # noqa: F811 - the shared fixture
    return hooks


class Trickler:
    """A webhook endpoint that sends its headers, then one byte of its body every
    ``interval`` seconds, until the client hangs up (at most ``limit`` seconds)."""

    def __init__(self, interval: float = 1.0, limit: float = 30.0) -> None:
        self.interval, self.limit = interval, limit
        self.port = free_port()
        self.open = 0
        self.most_open = 0
        self.closed_at: list[float] = []
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._server.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slow"

    def __enter__(self) -> Trickler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with self._lock:
            self.open += 1
            self.most_open = max(self.most_open, self.open)
        started = time.monotonic()
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            while not self._stop.is_set() and time.monotonic() - started < self.limit:
                time.sleep(self.interval)
                conn.sendall(b".")
        except OSError:
            pass  # the client hung up: its deadline
        finally:
            conn.close()
            with self._lock:
                self.open -= 1
                self.closed_at.append(time.monotonic())


CIRCUIT_SITE = "site-circuit"


async def onboard(n: Notifications, site_id: str, channels: SiteChannels) -> None:
    from iopnet.catalog import SiteOnboarded

    async with n.pool.acquire() as conn:
        onboarded = SiteOnboarded(
            site_id=site_id, name=site_id, time_zone=SITE_TIME_ZONE, policies=NO_QUIET_HOURS)
        await on_site_onboarded(conn, onboarded, _envelope_of(onboarded))
        await commands.set_channels(commands.unit_of_work(conn, CAUSE), channels)


async def risk_at(n: Notifications, site_id: str) -> str:
    patient_id = str(uuid.uuid4())
    await n.apply(PatientReferred(patient_id=patient_id, site_id=site_id, referral_id="r-1",
                                  source=ReferralSource.SELF, referred_on=date(2026, 12, 8)))
    await n.apply(RiskSignalRaised(patient_id=patient_id, site_id=site_id,
                                   signal=RiskSignal.CSSRS_HIGH, observed_on=date(2026, 12, 8)))
    return patient_id


# 2. A slow partner.

async def test_a_trickling_webhook_does_not_delay_another_sites_urgent_alert(
    n: Notifications, receiver: WebhookReceiver,
) -> None:
    settings = n.settings.model_copy(update={
        "webhook_timeout_seconds": 5, "delivery_site_concurrency": 2,
        "delivery_concurrency": 8, "delivery_backoff_seconds": 30})
    with Trickler(interval=1) as slow:
        await onboard(n, SLOW_SITE, SiteChannels(SLOW_SITE, None, slow.url, SECRET))
        for _ in range(6):  # six urgent alerts whose webhooks all go to the trickler
            await risk_at(n, SLOW_SITE)
        stop = asyncio.Event()
        job = asyncio.create_task(deliver_due_messages(n.pool, settings, stop))
        try:
            async def two_in_flight() -> bool:
                return slow.open == 2

            async def delivered() -> bool:
                return bool(hooks_about(receiver, patient_id))

            await eventually(two_in_flight, timeout=10)
            recorded_at = time.monotonic()
            patient_id = await risk_at(n, SITE)  # another site's urgent alert, now
            await eventually(delivered, timeout=15)
            delivered_at = time.monotonic()
        finally:
            stop.set()
            await asyncio.wait_for(job, timeout=15)
        print(f"\nanother site's urgent webhook: {delivered_at - recorded_at:.2f} s after"
              " its event, while the slow site's sends were still trickling")
        # Delivered while the slow site's first sends were still hanging on, and never more
        # than two of them at once (the per-site cap), each cut off by its deadline.
        assert not slow.closed_at or min(slow.closed_at) > delivered_at
        assert slow.most_open == 2
        # The slow site's alerts are not lost: they failed within the deadline and wait to
        # be retried.
        rows = await n.pool.fetch("SELECT status, attempts FROM messages WHERE site_id = $1"
                                  " AND recipient_role = 'site'", SLOW_SITE)
        assert {r["status"] for r in rows} == {"pending"}
        assert sum(r["attempts"] for r in rows) >= 2
        assert await n.pool.fetchval("SELECT count(*) FROM message_leases") == 0


async def test_an_endpoint_that_keeps_failing_is_left_alone_and_its_messages_wait(
    n: Notifications, receiver: WebhookReceiver,
) -> None:
    settings = n.settings.model_copy(update={
        "circuit_failure_threshold": 2, "circuit_cooldown_seconds": 60,
        "delivery_site_concurrency": 1,
        # A failed send is due again at once, so the round meets the open circuit whatever
        # the timing (with a backoff, a retry not yet due when the round ends kept it).
        "delivery_backoff_seconds": 0})
    # A site of its own: the slow site's earlier tests leave messages pending.
    dead = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: refused at once
    await onboard(n, CIRCUIT_SITE, SiteChannels(CIRCUIT_SITE, None, dead, SECRET))
    for _ in range(3):
        await risk_at(n, CIRCUIT_SITE)
    dispatcher = Dispatcher.of(n.pool, n.postman, settings)
    await deliver_all_due(n.pool, n.postman, settings, dispatcher)

    rows = await n.pool.fetch(
        "SELECT id, status, attempts, due_at FROM messages WHERE site_id = $1"
        " AND recipient_role = 'site'", CIRCUIT_SITE)
    # Two sends failed and opened the circuit; every message then waits for the cool-down
    # (a recorded deferral), none is dropped or failed for good.
    assert sum(r["attempts"] for r in rows) == 2
    assert {r["status"] for r in rows} == {"pending"}
    assert all(r["due_at"] > utc_now() + timedelta(seconds=30) for r in rows)
    deferrals = await n.pool.fetchval(
        "SELECT count(*) FROM events WHERE event_type LIKE '%MessageRescheduled'"
        " AND stream_id = ANY($1::text[])", [f"notification-{r['id']}" for r in rows])
    assert deferrals == 3

    # The partner fixes its endpoint; once due, everything goes.
    await onboard(n, CIRCUIT_SITE, SiteChannels(CIRCUIT_SITE, None, receiver.url, SECRET))
    await n.make_due_now()
    await deliver_all_due(n.pool, n.postman, settings, dispatcher)
    statuses = await n.pool.fetch("SELECT status FROM messages WHERE site_id = $1"
                                  " AND recipient_role = 'site'", CIRCUIT_SITE)
    assert [r["status"] for r in statuses] == ["sent"] * 3


# 3. SSRF.

def resolving(name: str, to: str) -> Resolver:
    """A resolver that knows one name (the tests reach no DNS server)."""
    async def resolve(host: str, port: int) -> list[Address]:
        assert host == name
        return [ip_address(to)]
    return resolve


async def test_the_address_is_pinned_and_the_request_names_the_host(
    n: Notifications, receiver: WebhookReceiver,
) -> None:
    name = "ehr.partner.example"
    postman = replace(n.postman, webhooks=replace(
        n.postman.webhooks, resolve=resolving(name, "127.0.0.1")))
    await onboard(n, SITE, SiteChannels(SITE, None, receiver.url.replace("127.0.0.1", name),
                                        SECRET))
    patient_id = await referred(n)
    await n.apply(RiskSignalRaised(patient_id=patient_id, site_id=SITE,
                                   signal=RiskSignal.CSSRS_HIGH, observed_on=date(2026, 12, 8)))
    await deliver_all_due(n.pool, postman, n.settings)
    [(headers, _)] = [(h, b) for h, b in receiver.received if patient_id.encode() in b]
    assert headers["host"] == f"{name}:{receiver.port}"


async def test_a_name_resolving_to_a_private_address_is_refused_when_sending(
    n: Notifications, receiver: WebhookReceiver,
) -> None:
    name = "ehr.partner.example"
    settings = n.settings.model_copy(update={"webhook_allow_internal_addresses": False})
    postman = Postman.of(settings)
    postman = replace(postman, webhooks=replace(
        postman.webhooks, resolve=resolving(name, "127.0.0.1")))
    await onboard(n, SITE, SiteChannels(SITE, None, f"https://{name}:{receiver.port}/hook",
                                        SECRET))
    patient_id = await referred(n)
    await n.apply(RiskSignalRaised(patient_id=patient_id, site_id=SITE,
                                   signal=RiskSignal.CSSRS_HIGH, observed_on=date(2026, 12, 8)))
    await deliver_all_due(n.pool, postman, settings)
    assert not [b for _, b in receiver.received if patient_id.encode() in b]
    error = await n.pool.fetchval(
        "SELECT d.error_class FROM delivery_log d JOIN messages m ON m.id = d.message_id"
        " WHERE m.patient_id = $1 AND m.recipient_role = 'site'", patient_id)
    assert error == "ForbiddenAddress"


@pytest.mark.parametrize(("url", "resolves_to"), [
    ("https://169.254.169.254/latest/meta-data/", None),
    ("https://10.0.0.1/hook", None),
    ("http://127.0.0.1:9100/metrics", None),
    ("https://localhost:9100/", None),
    ("https://[::1]/hook", None),
    ("https://[fd00:ec2::254]/", None),
    ("https://192.168.1.10/hook", None),
    ("https://100.64.0.9/hook", None),
    ("https://ehr.partner.example/hook", "192.168.1.10"),
    ("https://ehr.partner.example/hook", "fc00::5"),
])
async def test_a_site_cannot_set_an_internal_webhook(
    n: Notifications, monkeypatch: pytest.MonkeyPatch, url: str, resolves_to: str | None,
) -> None:
    monkeypatch.setenv("IOPNET_WEBHOOK_ALLOW_INTERNAL_ADDRESSES", "false")
    notification_settings.current.cache_clear()
    if resolves_to:
        monkeypatch.setattr(settings_api, "resolver",
                            resolving("ehr.partner.example", resolves_to))
    key = new_key()
    async with n.pool.acquire() as conn:
        await on_api_key_issued(conn, ApiKeyIssued(
            site_id=SITE, key_id=key.key_id, secret_sha256=key.secret_sha256,
            scopes=[Scope.READ, Scope.NOTIFICATIONS_ADMIN]), _issued_envelope())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(n)),
                                 base_url="http://notifications",
                                 headers={"Authorization": f"Bearer {key.plaintext}"}) as api:
        answer = await api.put(f"/v1/sites/{SITE}/channels",
                               json={"webhook_url": url, "webhook_secret": SECRET})
    notification_settings.current.cache_clear()
    assert answer.status_code == 422
    assert [e["pointer"] for e in answer.json()["errors"]] == ["#/webhook_url"]


# 8. Secret rotation with an overlap.

NEW_SECRET = "the-new-webhook-secret-9876543210"


def signatures(headers: dict[str, str]) -> list[str]:
    return headers[SIGNATURE_HEADER.lower()].split(",")


def verifies(secret: str, headers: dict[str, str], body: bytes, signature: str) -> bool:
    return verify(secret, body, headers[TIMESTAMP_HEADER.lower()], signature, utc_now())


async def test_a_rotated_secret_signs_beside_the_new_one_until_the_overlap_ends(
    n: Notifications, receiver: WebhookReceiver,
) -> None:
    async with n.pool.acquire() as conn:
        await commands.set_channels(commands.unit_of_work(conn, CAUSE),
                                    SiteChannels(SITE, None, receiver.url, NEW_SECRET),
                                    secret_overlap=timedelta(seconds=2))
    during = await referred(n)
    await n.apply(RiskSignalRaised(patient_id=during, site_id=SITE,
                                   signal=RiskSignal.CSSRS_HIGH, observed_on=date(2026, 12, 8)))
    await n.deliver()
    # The receiver still holds the old secret: accepted. Both signatures are there.
    [(headers, body)] = [(h, b) for h, b in receiver.received if during.encode() in b]
    new, old = signatures(headers)
    assert verifies(NEW_SECRET, headers, body, new) and verifies(SECRET, headers, body, old)

    await asyncio.sleep(2.1)  # the overlap ends: the old secret signs no more
    after = await referred(n)
    await n.apply(RiskSignalRaised(patient_id=after, site_id=SITE,
                                   signal=RiskSignal.CSSRS_HIGH, observed_on=date(2026, 12, 8)))
    await n.deliver()
    # refused (and retried: every attempt alike) by the receiver that holds the old secret
    headers, body = next((h, b) for h, b in receiver.rejected if after.encode() in b)
    [only] = signatures(headers)
    assert verifies(NEW_SECRET, headers, body, only)
    assert not [b for _, b in receiver.received if after.encode() in b]
