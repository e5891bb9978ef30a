"""Causal order across topics, on the real broker: plans' events reach sessions before the
admission they follow, and are applied after it (iopnet.causal)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from iopctl.kafka_principals import admin_options
from iopnet.catalog import SteppedDown
from iopnet.consumer import ConsumerRunner
from iopnet.db import Connection, connect, create_pool
from iopnet.envelope import EventEnvelope
from iopnet.inbox import Position
from iopnet.kafka_binding import to_record
from iopnet.provenance import check_provenance
from iopnet.rebuild import rebuild
from iopnet.service import ServiceSpec
from iopnet.topics import topic_of
from services.notifications.service import SPEC as NOTIFICATIONS
from services.sessions.service import SPEC
from tests.conftest import FreshDatabase, eventually
from tests.fixtures.infra import Endpoints
from tests.integration.sessions_helpers import (
    SITE,
    admission,
    at_utc,
    envelope,
    on,
    sessions_database,
)

#: The consumers start from the earliest offset: topics of their own (tests/conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("own_topics")]


@pytest.fixture
async def pool(fresh_database: FreshDatabase) -> AsyncIterator[asyncpg.Pool]:
    pool = await sessions_database(fresh_database)
    yield pool
    await pool.close()


async def publish(bootstrap: str, topic: str, made: EventEnvelope) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **admin_options(bootstrap))
    await producer.start()
    try:
        record = to_record(made)
        await producer.send_and_wait(topic, record.value, key=record.key, headers=record.headers)
    finally:
        await producer.stop()


def consumer_of(spec: ServiceSpec, pool: asyncpg.Pool, infra: Endpoints) -> ConsumerRunner:
    """The service's consumer as its worker runs it, in a group of its own."""
    projection = spec.consumer_projection()
    assert projection is not None
    return ConsumerRunner(group_id=f"{spec.name}-{uuid.uuid4().hex[:8]}", projection=projection,
                          pool=pool, bootstrap_servers=infra.kafka_bootstrap,
                          client_options=admin_options(infra.kafka_bootstrap),
                          provenance=check_provenance, retry_delay=0.01)


async def step_down_before_admission(spec: ServiceSpec, pool: asyncpg.Pool, infra: Endpoints
                                     ) -> str:
    """Plans' SteppedDown reaches the service's consumer first, and is held; the admission
    it follows comes next, and releases it. The patient's id."""
    patient_id = str(uuid.uuid4())
    stepped = envelope(SteppedDown(patient_id=patient_id, site_id=SITE, effective_on=on(37),
                                   aftercare=[], follow_up_within_days=7), "plans")
    stop = asyncio.Event()
    running = asyncio.create_task(consumer_of(spec, pool, infra).run(stop))
    try:
        await publish(infra.kafka_bootstrap, topic_of("plans"), stepped)
        await eventually(lambda: pool.fetchval(
            "SELECT count(*) = 1 FROM held_events WHERE event_id = $1", stepped.id), timeout=30)
        await publish(infra.kafka_bootstrap, topic_of("intake"),
                      envelope(admission(patient_id), "intake"))
        await eventually(lambda: pool.fetchval(
            "SELECT count(*) = 0 FROM held_events WHERE subject = $1", patient_id), timeout=30)
    finally:
        stop.set()
        await running
    return patient_id


async def test_a_step_down_seen_before_the_admission_waits_for_it(
    pool: asyncpg.Pool, infra: Endpoints,
) -> None:
    patient_id = await step_down_before_admission(SPEC, pool, infra)
    kept = await pool.fetchval(
        "SELECT max(starts_at) FROM patient_sessions WHERE patient_id = $1"
        " AND status <> 'cancelled'", patient_id)
    assert kept == at_utc(37, 15)  # scheduled on admission, then cancelled after day 37
    assert await pool.fetchval(
        "SELECT status FROM enrollments WHERE patient_id = $1", patient_id) == "ended"


async def test_a_late_admission_does_not_undo_a_step_down_in_notifications(
    fresh_database: FreshDatabase, infra: Endpoints,
) -> None:
    dsn = await fresh_database("notifications")
    await NOTIFICATIONS.migrate(dsn)
    pool = await create_pool(dsn)
    try:
        await pool.execute("INSERT INTO sites (site_id, name, time_zone, policies)"
                           " VALUES ($1, 'North', 'America/Chicago', '{}')", SITE)
        patient_id = await step_down_before_admission(NOTIFICATIONS, pool, infra)
        status = await pool.fetchval("SELECT status FROM patients WHERE patient_id = $1",
                                     patient_id)
    finally:
        await pool.close()
    assert status == "stepped_down"
    # The inbox is replayed in the order it was recorded, the step-down first: a
    # rebuild holds it for the admission too.
    rebuilt = await rebuild(dsn, NOTIFICATIONS.rebuild_sources(), check_only=True)
    assert rebuilt.differences["patients"] == (0, 0)


async def test_a_hold_and_its_release_in_two_partitions_at_once_do_not_miss_each_other(
    fresh_database: FreshDatabase,
) -> None:
    """The consumer applies partitions side by side: the step-down is held in one
    transaction while the admission, in another, looks for what it releases."""
    dsn = await fresh_database("notifications")
    await NOTIFICATIONS.migrate(dsn)
    projection = NOTIFICATIONS.consumer_projection()
    assert projection is not None
    patient_id = str(uuid.uuid4())
    stepped = envelope(SteppedDown(patient_id=patient_id, site_id=SITE, effective_on=on(37),
                                   aftercare=[], follow_up_within_days=7), "plans")
    admitted = envelope(admission(patient_id), "intake")
    plans, intake = await connect(dsn), await connect(dsn)
    try:
        plans_batch = plans.transaction()
        await plans_batch.start()
        await projection.apply(plans, stepped, Position(topic_of("plans")))

        async def intake_batch() -> None:
            async with intake.transaction():
                await projection.apply(intake, admitted, Position(topic_of("intake")))

        applying = asyncio.create_task(intake_batch())
        # Until it waits for the plans batch (it finds the subject taken) or is done.
        await eventually(lambda: _waiting_or_done(plans, applying), timeout=30)
        await plans_batch.commit()
        await applying
        status = await plans.fetchval("SELECT status FROM patients WHERE patient_id = $1",
                                      patient_id)
        held = await plans.fetchval("SELECT count(*) FROM held_events")
    finally:
        await plans.close()
        await intake.close()
    assert (status, held) == ("stepped_down", 0)


async def _waiting_or_done(conn: Connection, task: asyncio.Task[None]) -> bool:
    return task.done() or bool(await conn.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"))
