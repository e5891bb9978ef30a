"""A record whose headers hold bytes Postgres text refuses is dead-lettered, never a crash;
what waits behind it is parked byte for byte, and released as it came."""

from __future__ import annotations

import asyncio
import base64
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from iopctl.kafka_principals import admin_options
from iopnet.catalog import PatientAdmitted
from iopnet.consumer import ConsumerRunner, Projection
from iopnet.dead_letters import Outcome, Resolver
from iopnet.kafka_binding import to_record
from tests.conftest import eventually
from tests.fixtures.infra import Endpoints
from tests.integration.kafka_helpers import new_topic
from tests.integration.test_consumer import admitted, count_admissions

pytestmark = pytest.mark.integration


def decoded(raw_headers: list[list[str]]) -> dict[str, bytes]:
    return {base64.b64decode(name).decode(): base64.b64decode(value)
            for name, value in raw_headers}


async def test_a_nul_in_a_header_is_kept_byte_for_byte_and_the_partition_moves_on(
    db_pool: asyncpg.Pool, infra: Endpoints,
) -> None:
    await db_pool.execute(
        "CREATE TABLE admissions_seen (patient_id text PRIMARY KEY, times int NOT NULL)")
    topic = await new_topic(infra.kafka_bootstrap, partitions=1)
    poisoned_patient = str(uuid.uuid4())
    poisoned = to_record(admitted(poisoned_patient))
    headers = [(name, b"\x00bad\xff" if name == "ce_type" else raw)
               for name, raw in poisoned.headers]
    headers.append(("x-\x00note", b"\x00"))
    later = to_record(admitted(poisoned_patient))  # the same patient: parked behind it
    later_headers = [*later.headers, ("x-note", b"\x00\xfe")]
    healthy = to_record(admitted(str(uuid.uuid4())))
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap,
                                **admin_options(infra.kafka_bootstrap))
    await producer.start()
    try:
        await producer.send_and_wait(topic, poisoned.value, key=poisoned.key, headers=headers)
        await producer.send_and_wait(topic, later.value, key=later.key, headers=later_headers)
        await producer.send_and_wait(topic, healthy.value, key=healthy.key,
                                     headers=healthy.headers)
    finally:
        await producer.stop()
    projection = Projection(topics=[topic], projectors={PatientAdmitted: count_admissions})
    runner = ConsumerRunner(
        group_id=f"test-{uuid.uuid4().hex[:8]}", pool=db_pool, retry_delay=0.01,
        projection=projection, bootstrap_servers=infra.kafka_bootstrap,
        client_options=admin_options(infra.kafka_bootstrap))
    stop = asyncio.Event()
    running = asyncio.create_task(runner.run(stop))
    try:
        await eventually(lambda: db_pool.fetchval(
            "SELECT count(*) = 1 FROM admissions_seen"), timeout=30)
    finally:
        stop.set()
        await running  # it did not crash: a crash would raise here

    [letter] = await db_pool.fetch(
        "SELECT id, event_type, headers, raw_headers FROM dead_letters")
    raw = decoded(letter["raw_headers"])
    assert raw["ce_type"] == b"\x00bad\xff"
    assert raw["x-\x00note"] == b"\x00"
    assert letter["event_type"] == "\ufffdbad\ufffd"
    [parked] = await db_pool.fetch("SELECT headers, raw_headers FROM parked_records")
    assert decoded(parked["raw_headers"])["x-note"] == b"\x00\xfe"
    assert parked["headers"]["x-note"] == "\ufffd\ufffd"

    # Discarded, the record parked behind it is applied from the bytes it came with.
    async with db_pool.acquire() as conn:
        resolution = await Resolver(projection).discard(conn, letter["id"], by="ops",
                                                         reason="a poisoned test record")
    assert (resolution.outcome, resolution.released) == (Outcome.DISCARDED, 1)
    assert await db_pool.fetchval("SELECT times FROM admissions_seen WHERE patient_id = $1",
                                  poisoned_patient) == 1
