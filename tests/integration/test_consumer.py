import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import date

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from iopctl.kafka_principals import admin_options
from iopnet.catalog import DomainEvent, PatientAdmitted, PatientReferred, ReferralSource
from iopnet.consumer import ConsumerRunner, Projection
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.eventstore import Cause, EventStore
from iopnet.kafka_binding import to_record
from tests.conftest import eventually
from tests.fixtures.infra import Endpoints
from tests.integration.kafka_helpers import end_offsets, new_topic

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


def referred(patient_id: str) -> EventEnvelope:
    """An event the test's projection does not project."""
    event = PatientReferred(patient_id=patient_id, site_id="s-1", referral_id="r-1",
                            source=ReferralSource.SELF, referred_on=date(2026, 11, 1))
    store = EventStore(source="/iopnet/intake", topic="unused")
    return store.envelopes(f"patient-{patient_id}", 1, [event], Cause("c", "c"))[0]


async def publish(bootstrap: str, topic: str, envelopes: list[EventEnvelope]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **admin_options(bootstrap))
    await producer.start()
    try:
        for envelope in envelopes:
            record = to_record(envelope)
            await producer.send_and_wait(topic, record.value, key=record.key,
                                         headers=record.headers)
        await producer.send_and_wait(topic, b"not json", key=b"x", headers=[])  # poison
    finally:
        await producer.stop()


@pytest.fixture
async def seen_pool(db_pool: asyncpg.Pool) -> asyncpg.Pool:
    """A store with the table count_admissions writes: one row per patient, times seen."""
    await db_pool.execute(
        "CREATE TABLE admissions_seen (patient_id text PRIMARY KEY, times int NOT NULL)"
    )
    return db_pool


async def test_redelivered_events_are_projected_once(
    seen_pool: asyncpg.Pool, infra: Endpoints,
) -> None:
    topic = await new_topic(infra.kafka_bootstrap, partitions=3)
    envelopes = [admitted(str(uuid.uuid4())) for _ in range(10)]
    # Every event twice, as a relay that crashed before deleting its batch would send it.
    await publish(infra.kafka_bootstrap, topic, envelopes + envelopes)
    group_id = f"test-{uuid.uuid4().hex[:8]}"
    runner = ConsumerRunner(
        group_id=group_id,
        projection=Projection(topics=[topic], projectors={PatientAdmitted: count_admissions}),
        pool=seen_pool, bootstrap_servers=infra.kafka_bootstrap,
        client_options=admin_options(infra.kafka_bootstrap), retry_delay=0.01,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(runner.run(stop))
    ends = await end_offsets(infra.kafka_bootstrap, topic, partitions=3)

    async def read_to_the_end() -> bool:  # every duplicate (and the poison) was read
        stored = await stored_offsets(seen_pool, group_id)
        return all(stored.get(p, 0) == end for p, end in ends.items())

    await eventually(read_to_the_end, timeout=30)
    stop.set()
    await running

    rows = await seen_pool.fetch("SELECT times FROM admissions_seen")
    assert [row["times"] for row in rows] == [1] * 10
    assert await seen_pool.fetchval("SELECT count(*) FROM applied_events") == 10
    assert await seen_pool.fetchval("SELECT count(*) FROM dead_letters") == 1  # the poison


def admissions_runner(pool: asyncpg.Pool, infra: Endpoints, topic: str,
                      group_id: str) -> ConsumerRunner:
    return ConsumerRunner(
        group_id=group_id,
        projection=Projection(topics=[topic], projectors={PatientAdmitted: count_admissions}),
        pool=pool, bootstrap_servers=infra.kafka_bootstrap,
        client_options=admin_options(infra.kafka_bootstrap), retry_delay=0.01,
    )


async def run_until(runner: ConsumerRunner, done: Callable[[], Awaitable[bool]],
                    timeout: float = 30) -> None:
    stop = asyncio.Event()
    running = asyncio.create_task(runner.run(stop))
    try:
        await eventually(done, timeout=timeout)
    finally:
        stop.set()
        await running


async def test_the_database_keeps_every_event_consumed_and_where_it_stands(
    seen_pool: asyncpg.Pool, infra: Endpoints,
) -> None:
    topic = await new_topic(infra.kafka_bootstrap)
    patients = [str(uuid.uuid4()) for _ in range(8)]
    await publish(infra.kafka_bootstrap, topic,
                  [referred(p) for p in patients] + [admitted(p) for p in patients])
    group_id = f"test-{uuid.uuid4().hex[:8]}"
    await run_until(admissions_runner(seen_pool, infra, topic, group_id),
                    lambda: seen_pool.fetchval(
                        "SELECT (SELECT count(*) FROM applied_events) = 16"
                        " AND (SELECT count(*) FROM dead_letters) = 1"))

    # Events it does not project are in the inbox too, with where they were read.
    inbox = await seen_pool.fetch(
        "SELECT event_type, count(*) AS n FROM applied_events WHERE topic = $1"
        " AND partition IS NOT NULL AND \"offset\" IS NOT NULL AND envelope IS NOT NULL"
        " GROUP BY event_type ORDER BY event_type", topic)
    assert [(r["event_type"], r["n"]) for r in inbox] == [
        (PatientAdmitted.event_type, 8), (PatientReferred.event_type, 8)]
    # The stored offsets are past every record read, dead letter included.
    assert await stored_offsets(seen_pool, group_id) == await offsets_after_last_record(
        seen_pool)


async def stored_offsets(pool: asyncpg.Pool, group_id: str) -> dict[int, int]:
    rows = await pool.fetch(
        "SELECT partition, next_offset FROM consumer_offsets WHERE group_id = $1", group_id)
    return {row["partition"]: row["next_offset"] for row in rows}


async def offsets_after_last_record(pool: asyncpg.Pool) -> dict[int, int]:
    rows = await pool.fetch(
        "SELECT partition, max(\"offset\") + 1 AS next FROM (SELECT partition, \"offset\""
        " FROM applied_events UNION ALL SELECT partition, \"offset\" FROM dead_letters"
        " UNION ALL SELECT partition, \"offset\" FROM parked_records) read"  # behind a poison
        " GROUP BY partition")
    return {row["partition"]: row["next"] for row in rows}


async def test_a_database_taken_back_in_time_reads_again_from_its_own_offsets(
    seen_pool: asyncpg.Pool, infra: Endpoints,
) -> None:
    """As a restored backup or a lost transaction would: Kafka's commits are ahead of it."""
    topic = await new_topic(infra.kafka_bootstrap, partitions=1)
    await publish(infra.kafka_bootstrap, topic, [admitted(str(uuid.uuid4())) for _ in range(10)])
    group_id = f"test-{uuid.uuid4().hex[:8]}"
    everything = "SELECT (SELECT count(*) FROM admissions_seen) = 10"
    await run_until(admissions_runner(seen_pool, infra, topic, group_id),
                    lambda: seen_pool.fetchval(everything))

    await seen_pool.execute(
        "WITH lost AS (DELETE FROM applied_events WHERE \"offset\" >= 6"
        "  RETURNING envelope->'data'->>'patient_id' AS patient_id)"
        " DELETE FROM admissions_seen WHERE patient_id IN (SELECT patient_id FROM lost)")
    await seen_pool.execute("UPDATE consumer_offsets SET next_offset = 6")
    assert await seen_pool.fetchval("SELECT count(*) FROM admissions_seen") == 6

    await run_until(admissions_runner(seen_pool, infra, topic, group_id),
                    lambda: seen_pool.fetchval(everything))
    rows = await seen_pool.fetch("SELECT times FROM admissions_seen")
    assert [row["times"] for row in rows] == [1] * 10
    assert await stored_offsets(seen_pool, group_id) == {0: 11}  # ten events and the poison


async def test_runners_sharing_a_group_hand_partitions_over_without_losing_or_repeating(
    seen_pool: asyncpg.Pool, infra: Endpoints,
) -> None:
    """A second worker joins, then the first leaves: two rebalances while events flow."""
    topic = await new_topic(infra.kafka_bootstrap, partitions=6)
    published: list[EventEnvelope] = []

    async def slowly(conn: Connection, event: DomainEvent, envelope: EventEnvelope) -> None:
        await asyncio.sleep(0.02)  # so that the rebalances find batches being applied
        await count_admissions(conn, event, envelope)

    async def publish_until(done: Callable[[], bool]) -> None:
        async with asyncio.timeout(40):
            while not done():
                published.extend(admitted(str(uuid.uuid4())) for _ in range(30))
                await publish(infra.kafka_bootstrap, topic, published[-30:])
                await asyncio.sleep(0.5)

    group_id = f"test-{uuid.uuid4().hex[:8]}"
    projection = Projection(topics=[topic], projectors={PatientAdmitted: slowly})
    first, second = (ConsumerRunner(group_id=group_id, projection=projection, pool=seen_pool,
                                    bootstrap_servers=infra.kafka_bootstrap,
                                    client_options=admin_options(infra.kafka_bootstrap),
                                    retry_delay=0.01)
                     for _ in range(2))
    stops = asyncio.Event(), asyncio.Event()
    running = [asyncio.create_task(first.run(stops[0]))]
    await publish_until(lambda: first.applied > 0)
    running.append(asyncio.create_task(second.run(stops[1])))
    await publish_until(lambda: second.applied > 0)
    stops[0].set()
    await running[0]  # it left cleanly: no failed commit ended it
    applied_before = second.applied
    await publish_until(lambda: second.applied > applied_before + 30)
    await eventually(lambda: seen_pool.fetchval(
        "SELECT count(*) = $1 FROM admissions_seen", len(published)), timeout=40)
    stops[1].set()
    await running[1]

    rows = await seen_pool.fetch("SELECT times FROM admissions_seen")
    assert [row["times"] for row in rows] == [1] * len(published)
    assert await stored_offsets(seen_pool, group_id) == await offsets_after_last_record(
        seen_pool)
