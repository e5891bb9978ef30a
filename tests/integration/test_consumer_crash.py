"""A consumer's Postgres crashes (``pg_ctl stop -m immediate``) again and again under load.

The consumer's database is a cluster of the test's own, so the crashes never
reach the Postgres the rest of the suite shares. The producer records events in
its event store (on the shared server) and the real relay publishes them to the
real broker. In the end, every event of the producer's store must have been
applied exactly once, counted in the databases.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import date

import asyncpg
import pytest

from iopctl import pgsql, postgres
from iopctl.events import Feed, verify_feed
from iopctl.kafka_principals import admin_options
from iopctl.postgres import Cluster
from iopnet.catalog import DomainEvent, PatientAdmitted, PatientReferred, ReferralSource
from iopnet.consumer import ConsumerRunner, Projection
from iopnet.db import Connection, connect, create_pool
from iopnet.envelope import EventEnvelope
from iopnet.eventstore import Cause, EventStore
from iopnet.migrate import apply_migrations
from iopnet.relay import OutboxRelay
from iopnet.topics import namespace
from tests.conftest import FreshDatabase, eventually
from tests.fixtures.infra import Endpoints
from tests.fixtures.own_infra import own_cluster as cluster_of_its_own
from tests.integration.kafka_helpers import delete_topic, end_offsets, new_topic
from tests.integration.test_consumer import stored_offsets

pytestmark = pytest.mark.integration

PATIENTS = 600  # two events each
CRASHES = 4


@pytest.fixture
async def own_cluster() -> AsyncIterator[Cluster]:
    """A Postgres cluster for this test alone, in a folder the ``postgres`` user can enter."""
    async with cluster_of_its_own() as cluster:
        yield cluster


async def project_admission(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                            ) -> None:
    # No unique constraint: an event applied twice would show as two rows.
    await conn.execute("INSERT INTO admissions (event_id, patient_id) VALUES ($1, $2)",
                       envelope.id, event.patient_id)  # type: ignore[attr-defined]


def care_start(patient_id: str) -> list[DomainEvent]:
    return [
        PatientReferred(patient_id=patient_id, site_id="s-1", referral_id=f"r-{patient_id}",
                        source=ReferralSource.SELF, referred_on=date(2026, 11, 1)),
        PatientAdmitted(patient_id=patient_id, site_id="s-1", program_id="iop",
                        start_date=date(2026, 12, 1), days_per_week=3, planned_weeks=8,
                        clinician_id="c-1", baseline_phq9=18),
    ]


async def record_care_starts(dsn: str, store: EventStore) -> None:
    """The producer's load: patients referred and admitted, a few at a time, for seconds."""
    conn = await connect(dsn)
    try:
        for _ in range(PATIENTS // 10):
            async with conn.transaction():
                for _ in range(10):
                    patient_id = str(uuid.uuid4())
                    await store.append(conn, f"patient-{patient_id}", 0, care_start(patient_id),
                                       Cause("load", "load"))
            await asyncio.sleep(0.08)
    finally:
        await conn.close()


async def consumer_database(cluster: Cluster) -> str:
    await pgsql.ensure_databases(cluster.dsn("postgres"), ["consumer"])
    dsn = cluster.dsn("consumer")
    await apply_migrations(dsn, [])
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE admissions (event_id uuid NOT NULL, patient_id text)")
        assert await conn.fetchval("SHOW synchronous_commit") == "on"
    finally:
        await conn.close()
    return dsn


class Consumer:
    """A runner on the crashing cluster, which can be stopped and started again."""

    def __init__(self, pool: asyncpg.Pool, topic: str, bootstrap: str) -> None:
        projection = Projection(topics=[topic], projectors={PatientAdmitted: project_admission})
        self.runner = ConsumerRunner(group_id=f"crash-{uuid.uuid4().hex[:8]}",
                                     projection=projection, pool=pool,
                                     bootstrap_servers=bootstrap,
                                     client_options=admin_options(bootstrap), retry_delay=0.05)
        self.start()

    def start(self) -> None:
        self.stop = asyncio.Event()
        self.running = asyncio.create_task(self.runner.run(self.stop))

    async def halt(self) -> None:
        self.stop.set()
        await self.running


async def crash_and_recover(cluster: Cluster, consumer: Consumer, rounds: int) -> None:
    """Crash the cluster every second or so; once, stop the runner while it is down."""
    for crash in range(rounds):
        await asyncio.sleep(1.0)
        assert not consumer.running.done(), "the consumer gave up"
        await postgres.stop(cluster, mode="immediate")
        if crash == 1:  # a worker restarting meanwhile resumes from the database's offsets
            await consumer.halt()
        await asyncio.sleep(0.3)
        await postgres.start(cluster)
        if consumer.running.done():
            consumer.start()


async def test_every_event_is_applied_once_through_postgres_crashes(
    fresh_database: FreshDatabase, infra: Endpoints, own_cluster: Cluster,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="iopnet.consumer")
    producer_dsn = await fresh_database("producer")
    consumer_dsn = await consumer_database(own_cluster)
    topic = await new_topic(infra.kafka_bootstrap, partitions=6,
                            name=f"{namespace()}.crash{uuid.uuid4().hex[:6]}.events")
    store = EventStore(source="/iopnet/crashtest", topic=topic)
    relay_stop = asyncio.Event()
    relay = asyncio.create_task(OutboxRelay(
        dsn=producer_dsn, bootstrap_servers=infra.kafka_bootstrap,
        client_options=admin_options(infra.kafka_bootstrap),
        channel=store.channel).run(relay_stop))
    pool = await create_pool(consumer_dsn, max_size=8)
    consumer = Consumer(pool, topic, infra.kafka_bootstrap)
    try:
        load = asyncio.create_task(record_care_starts(producer_dsn, store))
        await crash_and_recover(own_cluster, consumer, CRASHES)
        await load
        await eventually(lambda: all_applied(pool, 2 * PATIENTS), timeout=40)
        await consumer.halt()
        await expect_each_applied_once(producer_dsn, pool)
        verified = await verify_feed(Feed("crashtest", topic, "crashtest", producer_dsn,
                                          consumer_dsn, consumer.runner.projection))
        assert (verified.published, verified.missing) == (2 * PATIENTS, [])
        assert await stored_offsets(pool, consumer.runner.group_id) == await end_offsets(
            infra.kafka_bootstrap, topic, partitions=6)
        assert any("database unavailable" in r.getMessage() for r in caplog.records), \
            "no crash hit the consumer while it applied"
    finally:
        consumer.stop.set()
        relay_stop.set()
        await asyncio.gather(consumer.running, relay, return_exceptions=True)
        await pool.close()
        await delete_topic(infra.kafka_bootstrap, topic)


async def all_applied(pool: asyncpg.Pool, events: int) -> bool:
    try:
        return bool(await pool.fetchval("SELECT count(*) FROM applied_events") >= events)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False  # the cluster is still recovering


async def expect_each_applied_once(producer_dsn: str, pool: asyncpg.Pool) -> None:
    producer = await asyncpg.connect(producer_dsn)
    try:
        recorded = await producer.fetch("SELECT event_id, event_type FROM events")
    finally:
        await producer.close()
    admitted = sorted(r["event_id"] for r in recorded
                      if r["event_type"] == PatientAdmitted.event_type)
    projected = sorted(r["event_id"] for r in await pool.fetch("SELECT event_id FROM admissions"))
    assert len(recorded) == 2 * PATIENTS
    assert projected == admitted  # each once: a repeat would be a second row
    inbox = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM applied_events")}
    assert inbox == {r["event_id"] for r in recorded}
    assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 0

