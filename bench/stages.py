"""Where propagation's time goes: an event's path split at the broker's record timestamp.

Three clocks, one machine: intake's ``events.recorded_at`` (the start of the transaction
that recorded the event), the Kafka record's timestamp (CreateTime: the relay's clock when
its producer took the record, before linger and the broker's acknowledgement), and each
consumer's ``applied_events.applied_at`` (the start of the batch's transaction). So

- **recorded → published** is intake's transaction from its start to its commit, the
  NOTIFY, the relay's wake-up and its read of the outbox;
- **published → applied** is the producer's linger and send, the broker's append, the
  consumer's fetch and poll, the wait for its partition's batch under way, and the new
  batch's decoding and connection up to its ``BEGIN``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Collection, Mapping
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer

from iopctl.kafka_principals import admin_options


async def published(bootstrap: str, topic: str, event_ids: Collection[uuid.UUID],
                    timeout: float = 60.0) -> dict[uuid.UUID, datetime]:
    """The record timestamp of each of ``event_ids`` on ``topic`` (read from the start)."""
    wanted = set(event_ids)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", **admin_options(bootstrap))
    await consumer.start()
    found: dict[uuid.UUID, datetime] = {}
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while wanted - found.keys():
                    for records in (await consumer.getmany(timeout_ms=500)).values():
                        for record in records:
                            ce_id = dict(record.headers).get("ce_id")
                            if ce_id and (event_id := uuid.UUID(ce_id.decode())) in wanted:
                                found[event_id] = datetime.fromtimestamp(
                                    record.timestamp / 1000, UTC)
    finally:
        await consumer.stop()
    return found


def split(recorded: Mapping[uuid.UUID, datetime], sent: Mapping[uuid.UUID, datetime],
          applied: Mapping[str, Mapping[uuid.UUID, datetime]]) -> dict[str, list[float]]:
    """Seconds of each stage, per event: recorded → published, then published → applied in
    each consumer (and in the last of them)."""
    ids = [e for e in recorded if e in sent]
    stages = {"recorded → published": [(sent[e] - recorded[e]).total_seconds() for e in ids]}
    for name, at in applied.items():
        stages[f"published → applied in {name}"] = [
            (at[e] - sent[e]).total_seconds() for e in ids if e in at]
    stages["published → applied in all four"] = [
        max((at[e] - sent[e]).total_seconds() for at in applied.values())
        for e in ids if all(e in at for at in applied.values())]
    return stages
