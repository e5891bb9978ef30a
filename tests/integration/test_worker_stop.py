"""A worker told to stop (SIGTERM, as a rolling restart or ``Stack.pause`` does) while it has
a backlog exits promptly, and once started again applies everything exactly once.

The real notifications worker, in a process of its own, on the real broker and database:
its consumer has a backlog of admissions and schedules, and its delivery job is sending to
a partner's webhook that never answers (it would wait for its whole timeout, a minute here).
Whatever is still running after the worker's grace is cancelled, so the stop never waits
for it; the batch cut short rolls back and is applied, once, after the restart.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from iopctl.kafka_principals import admin_options, service_env
from iopctl.stack import spec_of
from iopnet.auth.registry import on_site_onboarded
from iopnet.catalog import (
    Modality,
    PatientAdmitted,
    ScheduledSession,
    SessionKind,
    SessionsScheduled,
    SiteOnboarded,
    SitePolicies,
)
from iopnet.db import connect
from iopnet.envelope import EventEnvelope, new_id, utc_now
from iopnet.eventstore import Cause, EventStore
from iopnet.kafka_binding import to_record
from services.notifications import commands
from services.notifications.domain import MessageKind, SiteChannels
from services.notifications.domain.messages import MessageDraft, Occasion, Recipient
from tests.conftest import FreshDatabase, eventually, free_port
from tests.fixtures.infra import Endpoints

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
SITE = "site-stop"
CAUSE = Cause("stop-test", "stop-test")
SECRET = "webhook-secret-stop-0123456789"
NO_QUIET_HOURS = SitePolicies(quiet_hours_start=dt_time(0, 0), quiet_hours_end=dt_time(0, 0))
PATIENTS = 120
SESSIONS_EACH = 50
#: The worker's grace after SIGTERM in this test; it must be out well within EXIT_WITHIN.
GRACE_SECONDS = 3
EXIT_WITHIN = 20.0


def backlog(patients: int) -> Iterator[tuple[str, EventEnvelope]]:
    """Each patient's admission (intake) and schedule of ten weeks from today (sessions):
    a welcome and the reminders of the next day's sessions are due at once."""
    intake, sessions = EventStore.of("intake"), EventStore.of("sessions")
    today = datetime.now(UTC).replace(hour=23, minute=0, second=0, microsecond=0)
    for _ in range(patients):
        patient_id = str(uuid.uuid4())
        admitted = PatientAdmitted(patient_id=patient_id, site_id=SITE, program_id="iop",
                                   start_date=today.date(), days_per_week=5, planned_weeks=10,
                                   clinician_id="clin-7", baseline_phq9=18)
        yield intake.topic, intake.envelopes(f"patient-{patient_id}", 0, [admitted], CAUSE)[0]
        schedule = SessionsScheduled(patient_id=patient_id, site_id=SITE, sessions=[
            ScheduledSession(session_id=str(uuid.uuid4()), group_id=f"g-{n % 5}",
                             kind=SessionKind.GROUP, modality=Modality.GROUP_THERAPY,
                             starts_at=today + timedelta(days=n // 5 * 7 + n % 5),
                             duration_minutes=180, clinician_id="clin-7")
            for n in range(SESSIONS_EACH)])
        yield sessions.topic, sessions.envelopes(f"enrollment-{patient_id}", 0, [schedule],
                                                 CAUSE)[0]


async def publish(bootstrap: str, patients: int) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                **admin_options(bootstrap))
    await producer.start()
    try:
        sent = []
        for topic, envelope in backlog(patients):
            record = to_record(envelope)
            sent.append(await producer.send(topic, record.value, key=record.key,
                                            headers=record.headers))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return len(sent)


def start_worker(dsn: str, bootstrap: str, group: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "IOPNET_DATABASE_URL": dsn, "IOPNET_KAFKA_BOOTSTRAP": bootstrap,
           "IOPNET_CONSUMER_GROUP": group, "IOPNET_HTTP_PORT": str(free_port()),
           "IOPNET_SMTP_PORT": str(free_port()),  # nothing listens: every email fails
           "IOPNET_WORKER_STOP_GRACE_SECONDS": str(GRACE_SECONDS),
           "IOPNET_WEBHOOK_ALLOW_INTERNAL_ADDRESSES": "true",
           "IOPNET_WEBHOOK_TIMEOUT_SECONDS": "60", "IOPNET_DELIVERY_LEASE_SECONDS": "120",
           **service_env(bootstrap, "notifications")}
    with log.open("ab") as output:
        return subprocess.Popen([sys.executable, "-m", "services.notifications", "worker"],
                                cwd=REPO_ROOT, env=env, stdout=output,
                                stderr=subprocess.STDOUT)


class SilentPartner:
    """A webhook endpoint that takes the connection and never answers."""

    def __init__(self) -> None:
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._hold = asyncio.Event()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._silent, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/webhook"

    async def _silent(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                      ) -> None:
        self.connections += 1
        await self._hold.wait()
        writer.close()

    async def stop(self) -> None:
        self._hold.set()
        if self._server is not None:
            self._server.close()


async def prepare(dsn: str, webhook: str) -> None:
    """The site (no quiet hours), its webhook, and a message due to go there."""
    conn = await connect(dsn)
    try:
        onboarded = SiteOnboarded(site_id=SITE, name="Stop Clinic", time_zone="UTC",
                                  policies=NO_QUIET_HOURS)
        await on_site_onboarded(conn, onboarded, EventStore.of("intake").envelopes(
            f"site-{SITE}", 0, [onboarded], CAUSE)[0])
        await commands.set_channels(commands.unit_of_work(conn, CAUSE),
                                    SiteChannels(SITE, None, webhook, SECRET))
        now = utc_now()
        occasion = Occasion(new_id(), "iopnet.SteppedDown", new_id(), now)
        async with conn.transaction():
            await commands.queue_messages(commands.unit_of_work(conn, CAUSE), [
                MessageDraft(str(uuid.uuid4()), SITE, MessageKind.AFTERCARE_SUMMARY,
                             Recipient.site(SITE), occasion, now - timedelta(seconds=1),
                             facts={"follow_up_within_days": 7})])
    finally:
        await conn.close()


async def applied(conn: asyncpg.Connection) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM applied_events")
    return count


async def test_a_worker_with_a_backlog_stops_promptly_and_resumes_exactly_once(
        infra: Endpoints, own_topics: str, fresh_empty_database: FreshDatabase,
        tmp_path: Path) -> None:
    dsn = await fresh_empty_database("worker_stop")
    await spec_of("notifications").migrate(dsn)
    partner = SilentPartner()
    await prepare(dsn, await partner.start())
    conn = await asyncpg.connect(dsn)
    total = await publish(infra.kafka_bootstrap, PATIENTS)
    group, log = f"notifications-stop-{uuid.uuid4().hex[:6]}", tmp_path / "worker.log"
    worker = start_worker(dsn, infra.kafka_bootstrap, group, log)
    try:
        async def started() -> bool:
            """Sending to the silent partner, and applying the backlog."""
            assert worker.poll() is None, log.read_text()
            return partner.connections > 0 and await applied(conn) > 0

        await eventually(started, timeout=120)
        worker.send_signal(signal.SIGTERM)
        told = time.monotonic()
        at_the_stop = await applied(conn)
        assert at_the_stop < total, "no backlog left to stop with: publish more"
        code = await asyncio.to_thread(worker.wait, 120)
        took = time.monotonic() - told
        assert code == 0, log.read_text()
        assert took < EXIT_WITHIN, f"exited {took:.1f} s after SIGTERM ({at_the_stop} applied)"

        worker = start_worker(dsn, infra.kafka_bootstrap, group, log)

        async def all_applied() -> bool:
            assert worker.poll() is None, log.read_text()
            return await applied(conn) >= total

        await eventually(all_applied, timeout=300)
        assert await applied(conn) == total
        assert await conn.fetchval("SELECT count(*) FROM dead_letters") == 0
        # Each admission's welcome was queued once, each session's reminder once.
        queued = await conn.fetch(
            "SELECT stream_id, count(*) AS n FROM events WHERE event_type LIKE '%MessageQueued'"
            " GROUP BY stream_id")
        assert all(row["n"] == 1 for row in queued)
        assert await conn.fetchval(
            "SELECT count(*) FROM messages WHERE kind = 'welcome'") == PATIENTS
        # The send cut short is not lost: still pending, to go again once its lease lapses.
        assert await conn.fetchval(
            "SELECT status FROM messages WHERE kind = 'aftercare_summary'") == "pending"
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            await asyncio.to_thread(worker.wait, 60)
        await conn.close()
        await partner.stop()
