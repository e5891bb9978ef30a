"""A record whose headers hold bytes Postgres text refuses is dead-lettered, never a crash."""

from __future__ import annotations

import asyncio
import base64
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from iopnet.catalog import PatientAdmitted
from iopnet.consumer import ConsumerRunner, Projection
from iopnet.kafka_binding import to_record
from tests.conftest import eventually
from tests.fixtures.infra import Endpoints
from tests.integration.kafka_helpers import new_topic
from tests.integration.test_consumer import admitted, count_admissions

pytestmark = pytest.mark.integration


async def test_a_nul_in_a_header_is_kept_byte_for_byte_and_the_partition_moves_on(
    db_pool: asyncpg.Pool, infra: Endpoints,
) -> None:
    await db_pool.execute(
        "CREATE TABLE admissions_seen (patient_id text PRIMARY KEY, times int NOT NULL)")
    topic = await new_topic(infra.kafka_bootstrap, partitions=1)
    poisoned = to_record(admitted(str(uuid.uuid4())))
    headers = [(name, b"\x00bad\xff" if name == "ce_type" else raw)
               for name, raw in poisoned.headers]
    headers.append(("x-\x00note", b"\x00"))
    healthy = to_record(admitted(str(uuid.uuid4())))
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, poisoned.value, key=poisoned.key, headers=headers)
        await producer.send_and_wait(topic, healthy.value, key=healthy.key,
                                     headers=healthy.headers)
    finally:
        await producer.stop()
    runner = ConsumerRunner(
        group_id=f"test-{uuid.uuid4().hex[:8]}", pool=db_pool, retry_delay=0.01,
        projection=Projection(topics=[topic], projectors={PatientAdmitted: count_admissions}),
        bootstrap_servers=infra.kafka_bootstrap)
    stop = asyncio.Event()
    running = asyncio.create_task(runner.run(stop))
    try:
        await eventually(lambda: db_pool.fetchval(
            "SELECT count(*) = 1 FROM admissions_seen"), timeout=30)
    finally:
        stop.set()
        await running  # it did not crash: a crash would raise here

    [letter] = await db_pool.fetch("SELECT event_type, headers, raw_headers FROM dead_letters")
    raw = {base64.b64decode(name).decode(): base64.b64decode(value)
           for name, value in letter["raw_headers"]}
    assert raw["ce_type"] == b"\x00bad\xff"
    assert raw["x-\x00note"] == b"\x00"
    assert letter["event_type"] == "\ufffdbad\ufffd"
