"""SIGKILL at the dangerous moments, on the real broker and database.

Each test runs the real relay, consumer or delivery worker in a process of its own
(``crash_runner``), which kills itself with SIGKILL exactly between two steps
(after Kafka's ack and before the outbox delete; after projecting and before the
transaction commits; after a webhook's 200 and before the delivery is recorded).
A clean stop runs ``finally`` blocks and closes connections politely; a SIGKILL
does not, which is what a lost machine does. The real code then takes over
unwrapped, and the test checks what the guarantee promises: nothing lost,
duplicates dropped, each fact applied or recorded once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from iopctl.kafka_principals import admin_options
from iopnet.auth.registry import on_site_onboarded
from iopnet.catalog import PatientAdmitted, PatientReferred, SiteOnboarded, SitePolicies
from iopnet.consumer import ConsumerRunner, Projection
from iopnet.db import Connection, connect, create_pool
from iopnet.envelope import EventEnvelope, new_id, utc_now
from iopnet.eventstore import Cause, EventStore
from iopnet.migrate import apply_migrations
from iopnet.relay import OutboxRelay
from services.notifications import commands, store
from services.notifications import settings as notification_settings
from services.notifications.delivery import Postman, deliver_all_due
from services.notifications.domain import MessageKind, SiteChannels
from services.notifications.domain.messages import MessageDraft, Occasion, Recipient
from services.notifications.domain.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER
from services.notifications.settings import NotificationsSettings
from tests.conftest import FreshDatabase, eventually
from tests.e2e.receivers import WebhookReceiver
from tests.fixtures.dates import SITE_TIME_ZONE
from tests.fixtures.infra import Endpoints
from tests.integration.kafka_helpers import end_offsets, new_topic, read_envelopes
from tests.integration.test_consumer import (
    admitted,
    count_admissions,
    publish,
    stored_offsets,
)
from tests.integration.test_consumer import run_until as consumer_run_until
from tests.integration.test_relay import append_interleaved, run_until

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Only a guard against a hook that never fires: the process is waited for, not timed.
HANG_GUARD_SECONDS = 300
PARTITIONS = 3


async def killed_at_the_moment(config: dict[str, Any], log: Path,
                               env: dict[str, str] | None = None) -> None:
    """Run ``crash_runner`` with ``config`` until it SIGKILLs itself at its moment."""
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.integration.crash_runner", json.dumps(config),
            cwd=REPO_ROOT, stdout=output, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})})
        try:
            async with asyncio.timeout(HANG_GUARD_SECONDS):
                code = await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert code == -signal.SIGKILL, output_of(log)


def output_of(log: Path) -> str:
    return log.read_text(errors="replace")


async def committed_to_kafka(bootstrap: str, group_id: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **admin_options(bootstrap))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group_id)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


# The relay, between Kafka's ack and the outbox delete.

RELAY_PATIENTS = 5
EVENTS_EACH = 40
BATCH = 17


async def count_referral(conn: Connection, event: Any, envelope: EventEnvelope) -> None:
    # No unique constraint: an event applied twice would be two rows.
    await conn.execute("INSERT INTO referrals_seen (event_id, patient_id) VALUES ($1, $2)",
                       envelope.id, event.patient_id)


@pytest.mark.parametrize(("moment", "nth"), [
    ("acked", 2),  # the second batch acknowledged by Kafka, still in the outbox
    ("sent", BATCH + 8),  # a record of the second batch handed over, not yet acknowledged
])
async def test_a_relay_killed_between_publishing_and_deleting_loses_and_reorders_nothing(
    fresh_database: FreshDatabase, infra: Endpoints, tmp_path: Path, moment: str, nth: int,
) -> None:
    dsn = await fresh_database("crashrelay")
    topic = await new_topic(infra.kafka_bootstrap, partitions=PARTITIONS)
    events = EventStore(source="/iopnet/crashtest", topic=topic)
    pool = await create_pool(dsn)
    try:
        patients = [str(uuid.uuid4()) for _ in range(RELAY_PATIENTS)]
        await append_interleaved(pool, events, patients, range(EVENTS_EACH))
        recorded = RELAY_PATIENTS * EVENTS_EACH

        await killed_at_the_moment({
            "role": "relay", "moment": moment, "nth": nth, "dsn": dsn,
            "bootstrap": infra.kafka_bootstrap, "channel": events.channel,
            "batch_size": BATCH}, tmp_path / "relay.log")
        # Only the first batch left the outbox; the second is still there, whether
        # Kafka has it (acked) or may have part of it (sent).
        assert await pool.fetchval("SELECT count(*) FROM outbox") == recorded - BATCH
        on_topic = sum((await end_offsets(infra.kafka_bootstrap, topic, PARTITIONS)).values())
        if moment == "acked":
            assert on_topic == 2 * BATCH

        relay = OutboxRelay(dsn=dsn, bootstrap_servers=infra.kafka_bootstrap,
                            client_options=admin_options(infra.kafka_bootstrap),
                            channel=events.channel, batch_size=BATCH)
        await run_until(relay, lambda: pool.fetchval("SELECT count(*) = 0 FROM outbox"),
                        timeout=60)
        ends = await end_offsets(infra.kafka_bootstrap, topic, PARTITIONS)
        published = await read_envelopes(infra.kafka_bootstrap, topic, sum(ends.values()),
                                         timeout=60)
    finally:
        await pool.close()
    if moment == "acked":
        assert len(published) == recorded + BATCH  # the acknowledged batch, twice
    expect_each_key_in_order(published, patients)
    assert {e.id for e in published} == await event_ids(dsn)
    await expect_consumers_apply_each_once(dsn, infra, topic, ends, recorded)


def expect_each_key_in_order(published: list[EventEnvelope], patients: list[str]) -> None:
    """Per key, each event first appears after every earlier one: a consumer dropping
    repeats by event id sees the stream in order."""
    first_seen: dict[str, list[int]] = defaultdict(list)
    seen: set[str] = set()
    for envelope in published:
        if envelope.id not in seen:
            seen.add(envelope.id)
            first_seen[envelope.subject].append(envelope.streamversion)
    assert set(first_seen) == set(patients)
    for patient in patients:
        assert first_seen[patient] == list(range(1, EVENTS_EACH + 1))


async def event_ids(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return {str(r["event_id"]) for r in await conn.fetch("SELECT event_id FROM events")}
    finally:
        await conn.close()


async def expect_consumers_apply_each_once(dsn: str, infra: Endpoints, topic: str,
                                           ends: dict[int, int], recorded: int) -> None:
    """A consumer reads every record, duplicates included, and applies each event once."""
    pool = await create_pool(dsn)
    try:
        await pool.execute("CREATE TABLE referrals_seen (event_id uuid, patient_id text)")
        runner = ConsumerRunner(
            group_id=f"crash-{uuid.uuid4().hex[:8]}", pool=pool,
            bootstrap_servers=infra.kafka_bootstrap, retry_delay=0.05,
            client_options=admin_options(infra.kafka_bootstrap),
            projection=Projection(topics=[topic], projectors={PatientReferred: count_referral}))

        await run_consumer_until(runner, lambda: read_to_the_end(pool, runner.group_id, ends))
        assert await pool.fetchval("SELECT count(*) FROM referrals_seen") == recorded
        assert await pool.fetchval(
            "SELECT count(DISTINCT event_id) FROM referrals_seen") == recorded
    finally:
        await pool.close()


async def read_to_the_end(pool: asyncpg.Pool, group_id: str, ends: dict[int, int]) -> bool:
    """The group stored, for each partition holding records, the offset after its last."""
    return await stored_offsets(pool, group_id) == {p: end for p, end in ends.items() if end}


async def run_consumer_until(runner: ConsumerRunner, done: Callable[[], Awaitable[bool]]
                             ) -> None:
    # A killed member's partitions come back to the group once its session times out.
    await consumer_run_until(runner, done, timeout=120)


# A consumer, between applying and committing.

ADMISSIONS = 30


@pytest.mark.parametrize(("moment", "nth"), [
    ("projected", 5),  # inside the projection's transaction, before it commits
    ("stored", 1),  # the database committed, Kafka was not told
])
async def test_a_consumer_killed_between_applying_and_committing_applies_each_event_once(
    fresh_database: FreshDatabase, infra: Endpoints, tmp_path: Path, moment: str, nth: int,
) -> None:
    dsn = await fresh_database("crashconsumer")
    topic = await new_topic(infra.kafka_bootstrap, partitions=PARTITIONS)
    await publish(infra.kafka_bootstrap, topic,
                  [admitted(str(uuid.uuid4())) for _ in range(ADMISSIONS)])  # and a poison
    pool = await create_pool(dsn)
    try:
        await pool.execute(
            "CREATE TABLE admissions_seen (patient_id text PRIMARY KEY, times int NOT NULL)")
        group_id = f"crash-{uuid.uuid4().hex[:8]}"
        await killed_at_the_moment({
            "role": "consumer", "moment": moment, "nth": nth, "dsn": dsn,
            "bootstrap": infra.kafka_bootstrap, "topic": topic, "group": group_id},
            tmp_path / "consumer.log")
        # Killed before any commit to Kafka; the database holds what it committed.
        assert await committed_to_kafka(infra.kafka_bootstrap, group_id) == {}
        applied = await pool.fetchval("SELECT count(*) FROM applied_events")
        assert applied > 0 if moment == "stored" else applied < ADMISSIONS

        runner = ConsumerRunner(
            group_id=group_id, pool=pool, bootstrap_servers=infra.kafka_bootstrap,
            retry_delay=0.05, client_options=admin_options(infra.kafka_bootstrap),
            projection=Projection(topics=[topic],
                                  projectors={PatientAdmitted: count_admissions}))
        ends = await end_offsets(infra.kafka_bootstrap, topic, PARTITIONS)

        await run_consumer_until(runner, lambda: read_to_the_end(pool, group_id, ends))
        rows = await pool.fetch("SELECT times FROM admissions_seen")
        assert [r["times"] for r in rows] == [1] * ADMISSIONS
        assert await pool.fetchval("SELECT count(*) FROM applied_events") == ADMISSIONS
        assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 1  # the poison
    finally:
        await pool.close()


# The delivery worker, between the webhook's 200 and recording the delivery.

SITE = "site-crash"
SECRET = "webhook-secret-crash-0123456789"
CAUSE = Cause(correlation_id="crash", causation_id="crash")
NO_QUIET_HOURS = SitePolicies(quiet_hours_start=time(0, 0), quiet_hours_end=time(0, 0))


@pytest.fixture
def hooks() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(SECRET).start()
    yield receiver
    receiver.stop()


@pytest.fixture
async def notifications_dsn(fresh_database: FreshDatabase, hooks: WebhookReceiver,
                            monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    monkeypatch.setenv("IOPNET_WEBHOOK_ALLOW_INTERNAL_ADDRESSES", "true")  # the receiver
    notification_settings.current.cache_clear()
    dsn = await fresh_database("crashnotifications")
    await apply_migrations(dsn, [Path("services/notifications/migrations")])
    conn = await connect(dsn)
    try:
        onboarded = SiteOnboarded(site_id=SITE, name="Crash Clinic", time_zone=SITE_TIME_ZONE,
                                  policies=NO_QUIET_HOURS)
        await on_site_onboarded(conn, onboarded, EventStore.of("intake").envelopes(
            f"site-{SITE}", 0, [onboarded], CAUSE)[0])
        await commands.set_channels(commands.unit_of_work(conn, CAUSE),
                                    SiteChannels(SITE, None, hooks.url, SECRET))
    finally:
        await conn.close()
    yield dsn
    notification_settings.current.cache_clear()


def worker_settings(dsn: str) -> dict[str, Any]:
    return {"database_url": dsn, "webhook_allow_internal_addresses": True,
            "webhook_timeout_seconds": 5, "delivery_lease_seconds": 6,
            "delivery_poll_seconds": 0.2}


async def test_a_worker_killed_after_the_webhook_answered_sends_it_again_and_records_once(
    notifications_dsn: str, hooks: WebhookReceiver, tmp_path: Path,
) -> None:
    dsn = notifications_dsn
    pool = await create_pool(dsn)
    try:
        patient_id, now = str(uuid.uuid4()), utc_now()
        occasion = Occasion(new_id(), "iopnet.SteppedDown", new_id(), now)
        async with pool.acquire() as conn, conn.transaction():
            assert await commands.queue_messages(commands.unit_of_work(conn, CAUSE), [
                MessageDraft(patient_id, SITE, MessageKind.AFTERCARE_SUMMARY,
                             Recipient.site(SITE), occasion, now - timedelta(seconds=1),
                             facts={"follow_up_within_days": 7})]) == 1
        [message] = await pool.fetch("SELECT id FROM messages")
        message_id = str(message["id"])

        await killed_at_the_moment({"role": "worker", "moment": "answered",
                                    "settings": worker_settings(dsn)},
                                   tmp_path / "worker.log",
                                   env={"IOPNET_WEBHOOK_ALLOW_INTERNAL_ADDRESSES": "true"})
        # The receiver has it; the database does not know it went.
        assert len(hooks.received) == 1
        assert await pool.fetchval("SELECT status FROM messages") == "pending"
        assert await sent_events(pool) == 0

        # Another worker takes the message once the killed worker's lease lapses.
        settings = NotificationsSettings(**worker_settings(dsn))
        postman = Postman.of(settings)

        async def sent() -> bool:
            await deliver_all_due(pool, postman, settings)
            return bool(await pool.fetchval("SELECT status = 'sent' FROM messages"))

        await eventually(sent, timeout=120)
    finally:
        await pool.close()
    # The receiver saw the same message twice, signed alike: it drops the repeat by id.
    assert hooks.rejected == []
    [(first_headers, first), (second_headers, second)] = hooks.received
    assert first == second
    assert json.loads(first)["message_id"] == message_id
    for headers in (first_headers, second_headers):
        assert headers[SIGNATURE_HEADER.lower()].startswith("v1=")
        assert headers[TIMESTAMP_HEADER.lower()].isdigit()
    # Nothing else twice: one attempt recorded, one NotificationSent.
    pool = await create_pool(dsn)
    try:
        assert await sent_events(pool) == 1
        recorded = [r["event_type"] for r in await pool.fetch(
            "SELECT event_type FROM events WHERE stream_id = $1", f"notification-{message_id}")]
        assert sorted(recorded) == [  # once each
            "iopnet.DeliveryAttempted", "iopnet.MessageQueued", "iopnet.NotificationSent"]
        async with pool.acquire() as conn:
            log = await store.deliveries_of(conn, uuid.UUID(message_id))
        assert log is not None
        assert [(r["attempt"], r["outcome"]) for r in log] == [(1, "sent")]
    finally:
        await pool.close()


async def sent_events(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval(
        "SELECT count(*) FROM events WHERE event_type = 'iopnet.NotificationSent'"))
