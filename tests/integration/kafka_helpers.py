"""Throwaway topics and readers for integration tests on the real broker."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from iopctl.kafka_principals import admin_options
from iopnet.envelope import EventEnvelope
from iopnet.kafka_binding import from_record


async def new_topic(bootstrap: str, partitions: int = 3, name: str | None = None) -> str:
    name = name or f"test.{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **admin_options(bootstrap))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
    return name


async def delete_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **admin_options(bootstrap))
    await admin.start()
    try:
        await admin.delete_topics([name])
    finally:
        await admin.close()


async def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    """The offset after the last record of each partition of ``topic``."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, **admin_options(bootstrap))
    await reader.start()
    try:
        ends = await reader.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
    finally:
        await reader.stop()
    return {tp.partition: offset for tp, offset in ends.items()}


async def read_envelopes(bootstrap: str, topic: str, count: int,
                         timeout: float = 20.0) -> list[EventEnvelope]:
    """The first ``count`` envelopes of a topic, in the order each partition holds them."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, **admin_options(bootstrap),
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: list[EventEnvelope] = []
    try:
        async with asyncio.timeout(timeout):
            while len(found) < count:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    found += [from_record(r.value or b"", list(r.headers)) for r in records]
    finally:
        await consumer.stop()
    return found
