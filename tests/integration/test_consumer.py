import asyncio
import uuid
from datetime import date

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from iopnet.catalog import DomainEvent, PatientAdmitted
from iopnet.consumer import ConsumerRunner, Projection
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.eventstore import Cause, EventStore
from iopnet.kafka_binding import to_record
from tests.conftest import eventually
from tests.fixtures.infra import Endpoints
from tests.integration.kafka_helpers import new_topic

pytestmark = pytest.mark.integration


async def count_admissions(conn: Connection, event: DomainEvent, _: EventEnvelope) -> None:
    await conn.execute(
        "INSERT INTO admissions_seen (patient_id, times) VALUES ($1, 1)"
        " ON CONFLICT (patient_id) DO UPDATE SET times = admissions_seen.times + 1",
        event.patient_id,
    )


def admitted(patient_id: str) -> EventEnvelope:
    event = PatientAdmitted(patient_id=patient_id, site_id="s-1", program_id="iop",
                            start_date=date(2026, 12, 1), days_per_week=3, planned_weeks=8,
                            clinician_id="c-1", baseline_phq9=18)
    store = EventStore(source="/iopnet/intake", topic="unused")
    return store.envelopes(f"patient-{patient_id}", 1, [event], Cause("c", "c"))[0]


async def publish(bootstrap: str, topic: str, envelopes: list[EventEnvelope]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for envelope in envelopes:
            record = to_record(envelope)
            await producer.send_and_wait(topic, record.value, key=record.key,
                                         headers=record.headers)
        await producer.send_and_wait(topic, b"not json", key=b"x", headers=[])  # poison
    finally:
        await producer.stop()


async def test_redelivered_events_are_projected_once(
    db_pool: asyncpg.Pool, infra: Endpoints,
) -> None:
    await db_pool.execute(
        "CREATE TABLE admissions_seen (patient_id text PRIMARY KEY, times int NOT NULL)"
    )
    topic = await new_topic(infra.kafka_bootstrap)
    envelopes = [admitted(str(uuid.uuid4())) for _ in range(10)]
    # Every event twice, as a relay that crashed before deleting its batch would send it.
    await publish(infra.kafka_bootstrap, topic, envelopes + envelopes)
    runner = ConsumerRunner(
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        projection=Projection(topics=[topic], projectors={PatientAdmitted: count_admissions}),
        pool=db_pool, bootstrap_servers=infra.kafka_bootstrap, retry_delay=0.01,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(runner.run(stop))
    await eventually(lambda: db_pool.fetchval(
        "SELECT (SELECT count(*) FROM dead_letters) = 1"
        " AND (SELECT count(*) FROM applied_events) = 10"), timeout=30)
    await asyncio.sleep(0.5)  # room for a wrongly repeated projection to show
    stop.set()
    await running

    rows = await db_pool.fetch("SELECT times FROM admissions_seen")
    assert [row["times"] for row in rows] == [1] * 10
    assert await db_pool.fetchval("SELECT count(*) FROM applied_events") == 10
