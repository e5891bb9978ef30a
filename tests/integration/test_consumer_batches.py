"""A partition's batch applied in one transaction (``Projection.apply_all``), with the
same outcome as its records applied one by one: each event once, causal holds and
releases, the patient's site, dead letters and their parked records."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from iopctl.kafka_principals import admin_options
from iopnet.catalog import (
    DomainEvent,
    PatientAdmitted,
    PatientEvent,
    PatientReferred,
    PatientTransferred,
    ReferralSource,
    SteppedDown,
)
from iopnet.consumer import ConsumerRunner, Projection
from iopnet.db import Connection, create_pool
from iopnet.envelope import EventEnvelope
from iopnet.eventstore import Cause, EventStore
from iopnet.inbox import Position
from iopnet.kafka_binding import to_record
from iopnet.topics import topic_of
from iopnet.transfers import site_in
from tests.conftest import FreshDatabase, eventually
from tests.fixtures.infra import Endpoints
from tests.integration.kafka_helpers import new_topic

pytestmark = pytest.mark.integration

OLD, NEW = "site-old", "site-new"


@pytest.fixture
async def pool(fresh_database: FreshDatabase) -> AsyncIterator[asyncpg.Pool]:
    """A store with what the test projectors write: every projection in order, with the
    site it was given, and the patients' rows (the site a transfer moves)."""
    pool = await create_pool(await fresh_database("batches"))
    await pool.execute(
        "CREATE TABLE projected (n bigserial PRIMARY KEY, event_id text NOT NULL,"
        " event_type text NOT NULL, patient_id text, site_id text);"
        "CREATE TABLE patients_here (patient_id text PRIMARY KEY, site_id text NOT NULL);"
        "CREATE TABLE reacted (event_id text PRIMARY KEY, position bigint NOT NULL)")
    yield pool
    await pool.close()


async def record_it(conn: Connection, event: DomainEvent, envelope: EventEnvelope) -> None:
    patient_id = event.patient_id if isinstance(event, PatientEvent) else None
    site_id = event.site_id if isinstance(event, PatientEvent) else None
    await conn.execute("INSERT INTO projected (event_id, event_type, patient_id, site_id)"
                       " VALUES ($1, $2, $3, $4)", envelope.id, envelope.type, patient_id,
                       site_id)


async def admit(conn: Connection, event: DomainEvent, envelope: EventEnvelope) -> None:
    assert isinstance(event, PatientAdmitted)
    await conn.execute("INSERT INTO patients_here VALUES ($1, $2) ON CONFLICT DO NOTHING",
                       event.patient_id, event.site_id)
    await record_it(conn, event, envelope)


async def move(conn: Connection, event: DomainEvent, envelope: EventEnvelope) -> None:
    assert isinstance(event, PatientTransferred)
    await conn.execute("UPDATE patients_here SET site_id = $2 WHERE patient_id = $1",
                       event.patient_id, event.site_id)
    await record_it(conn, event, envelope)


async def react(conn: Connection, event: DomainEvent, envelope: EventEnvelope) -> None:
    """As a reaction recording an event of its own would: take a place in the sequence the
    inbox shares with the event store."""
    await conn.execute("INSERT INTO reacted VALUES ($1, nextval('events_global_position_seq'))",
                       envelope.id)


def projection(*, reactions: bool = False) -> Projection:
    return Projection(
        topics=[topic_of("intake"), topic_of("plans")],
        projectors={PatientAdmitted: admit, PatientTransferred: move, SteppedDown: record_it},
        reactions={PatientReferred: react} if reactions else {},
        patient_site=site_in("patients_here"))


def made(event: DomainEvent, source: str = "intake") -> EventEnvelope:
    store = EventStore(source=f"/iopnet/{source}", topic="unused")
    return store.envelopes(f"x-{uuid.uuid4()}", 0, [event], Cause("c", "c"))[0]


def admitted(patient_id: str, site_id: str = OLD) -> EventEnvelope:
    return made(PatientAdmitted(patient_id=patient_id, site_id=site_id, program_id="iop",
                                start_date=date(2026, 12, 7), days_per_week=4, planned_weeks=10,
                                clinician_id="c-1", baseline_phq9=18))


def referred(patient_id: str, site_id: str = OLD) -> EventEnvelope:
    return made(PatientReferred(patient_id=patient_id, site_id=site_id, referral_id="r-1",
                                source=ReferralSource.SELF, referred_on=date(2026, 11, 20)))


def stepped_down(patient_id: str, site_id: str = OLD) -> EventEnvelope:
    return made(SteppedDown(patient_id=patient_id, site_id=site_id,
                            effective_on=date(2027, 1, 4), aftercare=[],
                            follow_up_within_days=7), "plans")


def transferred(patient_id: str) -> EventEnvelope:
    return made(PatientTransferred(patient_id=patient_id, site_id=NEW, from_site_id=OLD))


async def apply_batch(pool: asyncpg.Pool, envelopes: list[EventEnvelope],
                      applying: Projection | None = None) -> list[bool]:
    arrivals = [(e, Position(topic_of("intake"), 0, n)) for n, e in enumerate(envelopes)]
    async with pool.acquire() as conn, conn.transaction():
        return await (applying or projection()).apply_all(conn, arrivals)


async def projected(pool: asyncpg.Pool) -> list[tuple[str, str | None]]:
    return [(row["event_id"], row["site_id"])
            for row in await pool.fetch("SELECT event_id, site_id FROM projected ORDER BY n")]


async def test_repeats_within_a_batch_and_from_earlier_ones_are_applied_once(
    pool: asyncpg.Pool,
) -> None:
    a, b, c, d = (admitted(str(uuid.uuid4())) for _ in range(4))
    assert await apply_batch(pool, [a, b, a, b]) == [True, True, False, False]
    assert await apply_batch(pool, [b, c, a, d, c]) == [False, True, False, True, False]
    assert [event_id for event_id, _ in await projected(pool)] == [a.id, b.id, c.id, d.id]
    assert await pool.fetchval("SELECT count(*) FROM applied_events") == 4


async def test_an_event_held_and_released_in_one_batch_is_projected_after_what_it_follows(
    pool: asyncpg.Pool,
) -> None:
    patient, other = str(uuid.uuid4()), str(uuid.uuid4())
    early, admission = stepped_down(patient), admitted(patient)
    waiting = stepped_down(other)
    await apply_batch(pool, [early, waiting, admission])
    assert [event_id for event_id, _ in await projected(pool)] == [admission.id, early.id]
    assert await pool.fetchval("SELECT array_agg(event_id::text) FROM held_events") == [
        waiting.id]
    # Its admission in a later batch releases it; a step-down after it is not held at all.
    later = stepped_down(patient)
    await apply_batch(pool, [admitted(other), later])
    assert await pool.fetchval("SELECT count(*) FROM held_events") == 0
    assert [event_id for event_id, _ in await projected(pool)][-2:] == [waiting.id, later.id]


async def test_a_transfer_inside_a_batch_moves_the_events_after_it(pool: asyncpg.Pool) -> None:
    patient, other = str(uuid.uuid4()), str(uuid.uuid4())
    await apply_batch(pool, [admitted(patient), admitted(other)])
    # Plans recorded these at the old site before it heard of the transfer.
    before, moved, after = stepped_down(patient), transferred(patient), stepped_down(patient)
    await apply_batch(pool, [before, stepped_down(other), moved, after])
    sites = dict(await projected(pool))
    assert (sites[before.id], sites[moved.id], sites[after.id]) == (OLD, NEW, NEW)


async def test_a_batch_keeps_its_patients_rows_from_a_transfer_until_it_commits(
    pool: asyncpg.Pool,
) -> None:
    patient = str(uuid.uuid4())
    await apply_batch(pool, [admitted(patient)])
    async with pool.acquire() as conn, conn.transaction():
        await projection().apply_all(conn, [(stepped_down(patient), Position("t", 0, 0))])
        async with pool.acquire() as transfer:
            with pytest.raises(asyncpg.LockNotAvailableError):
                await transfer.execute("SELECT 1 FROM patients_here WHERE patient_id = $1"
                                       " FOR NO KEY UPDATE NOWAIT", patient)


async def test_what_a_reaction_records_comes_between_its_event_and_the_next_in_the_inbox(
    pool: asyncpg.Pool,
) -> None:
    """A rebuild replays the inbox and the store in the order of the sequence they share."""
    envelopes = [referred(str(uuid.uuid4())) if n % 3 == 1 else admitted(str(uuid.uuid4()))
                 for n in range(9)]
    await apply_batch(pool, envelopes, projection(reactions=True))
    inbox = {str(row["event_id"]): row["position"] for row in await pool.fetch(
        "SELECT event_id, position FROM applied_events")}
    order = sorted([(position, f"inbox {event_id}") for event_id, position in inbox.items()]
                   + [(row["position"], f"reaction {row['event_id']}")
                      for row in await pool.fetch("SELECT * FROM reacted")])
    expected = [f"inbox {e.id}" for e in envelopes]
    for n in (7, 4, 1):
        expected.insert(n + 1, f"reaction {envelopes[n].id}")
    assert [what for _, what in order] == expected


async def test_a_dead_letter_inside_a_batch_parks_only_its_patients_later_records(
    pool: asyncpg.Pool, infra: Endpoints,
) -> None:
    topic = await new_topic(infra.kafka_bootstrap, partitions=1)
    sick, well = str(uuid.uuid4()), str(uuid.uuid4())
    first, second, parked, last = (admitted(sick), admitted(well), stepped_down(sick),
                                   stepped_down(well))
    records: list[EventEnvelope | None] = [first, second, None, parked, last]  # None: poison
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap,
                                **admin_options(infra.kafka_bootstrap))
    await producer.start()
    try:
        for record in records:
            if record is not None:
                kafka = to_record(record)
                await producer.send(topic, kafka.value, key=kafka.key, headers=kafka.headers)
            else:
                await producer.send(topic, b"not json", key=sick.encode(), headers=[])
        await producer.flush()
    finally:
        await producer.stop()
    runner = ConsumerRunner(
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        projection=Projection(topics=[topic], projectors={PatientAdmitted: admit,
                                                          SteppedDown: record_it}),
        pool=pool, bootstrap_servers=infra.kafka_bootstrap,
        client_options=admin_options(infra.kafka_bootstrap), retry_delay=0.01)
    stop = asyncio.Event()
    running = asyncio.create_task(runner.run(stop))
    try:
        await eventually(lambda: pool.fetchval(
            "SELECT next_offset = 5 FROM consumer_offsets WHERE topic = $1", topic), timeout=60)
    finally:
        stop.set()
        await running
    assert [event_id for event_id, _ in await projected(pool)] == [first.id, second.id, last.id]
    assert await pool.fetchval("SELECT array_agg(\"offset\") FROM dead_letters") == [2]
    assert await pool.fetchval(
        "SELECT array_agg(\"offset\" ORDER BY \"offset\") FROM parked_records") == [3]


async def test_a_partition_is_not_held_up_by_another_partitions_batch_under_way(
    pool: asyncpg.Pool, infra: Endpoints,
) -> None:
    """An admission in one partition is applied while another partition's batch is still
    being applied (before, the next poll waited for every batch of the last one)."""
    topic = await new_topic(infra.kafka_bootstrap, partitions=2)
    slow, urgent = admitted(str(uuid.uuid4())), admitted(str(uuid.uuid4()))
    entered, release = asyncio.Event(), asyncio.Event()

    async def admit_slowly(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                           ) -> None:
        if envelope.id == slow.id:
            entered.set()
            await release.wait()
        await admit(conn, event, envelope)

    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap,
                                **admin_options(infra.kafka_bootstrap))
    await producer.start()
    runner = ConsumerRunner(
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        projection=Projection(topics=[topic], projectors={PatientAdmitted: admit_slowly}),
        pool=pool, bootstrap_servers=infra.kafka_bootstrap,
        client_options=admin_options(infra.kafka_bootstrap), retry_delay=0.01)
    stop = asyncio.Event()
    running = asyncio.create_task(runner.run(stop))
    try:
        kafka = to_record(slow)
        await producer.send_and_wait(topic, kafka.value, key=kafka.key, headers=kafka.headers,
                                     partition=0)
        await asyncio.wait_for(entered.wait(), timeout=60)
        kafka = to_record(urgent)
        await producer.send_and_wait(topic, kafka.value, key=kafka.key, headers=kafka.headers,
                                     partition=1)
        await eventually(lambda: pool.fetchval(
            "SELECT count(*) = 1 FROM projected WHERE event_id = $1", urgent.id), timeout=60)
        assert not await pool.fetchval("SELECT count(*) FROM projected WHERE event_id = $1",
                                       slow.id)
    finally:
        release.set()
        stop.set()
        await running
        await producer.stop()
    assert [event_id for event_id, _ in await projected(pool)] == [urgent.id, slow.id]
