"""The outbox relay: publishes committed events to Kafka, in order, at least once.

- One relay per service database publishes at a time (a Postgres advisory
  lock), so two replicas never interleave and reorder a patient's events.
- It wakes on NOTIFY from ``EventStore.append`` and drains the outbox in
  batches ordered by position; a slow timer is only a safety net.
- Rows are deleted only after Kafka acknowledged the whole batch. A crash in
  between republishes them (at least once; consumers drop duplicates by
  event id), never loses or reorders them.
- The producer is idempotent (acks=all), so its own retries cannot reorder
  or duplicate records within a partition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from opentelemetry.trace import SpanKind

from iopnet.db import Connection, connect
from iopnet.envelope import EventEnvelope
from iopnet.kafka_binding import to_record
from iopnet.metrics import RELAY_PUBLISHED
from iopnet.telemetry import context_from, current_trace_context, tracer

log = logging.getLogger(__name__)

_RELAY_LOCK = 0x0E1A7  # advisory lock key: one active relay per database
SAFETY_POLL_SECONDS = 5.0


class OutboxRelay:
    def __init__(
        self,
        *,
        dsn: str,
        bootstrap_servers: str,
        channel: str,
        batch_size: int = 500,
        client_id: str = "iopnet-relay",
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.dsn = dsn
        self.bootstrap_servers = bootstrap_servers
        self.channel = channel
        self.batch_size = batch_size
        self.client_id = client_id
        self.client_options = dict(client_options or {})
        self.published = 0
        self._wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop`` is set, then flush what was taken and return."""
        conn = await connect(self.dsn)
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            client_id=self.client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            **self.client_options,
        )
        try:
            await self._become_leader(conn, stop)
            await conn.add_listener(self.channel, self._on_notify)
            await producer.start()
            while not stop.is_set():
                if await self.publish_batch(conn, producer) < self.batch_size:
                    await self._sleep_until_woken(stop)
        finally:
            await producer.stop()
            await conn.close()

    async def publish_batch(self, conn: Connection, producer: AIOKafkaProducer) -> int:
        """Publish the oldest outbox rows; returns how many were published."""
        self._wake.clear()
        rows = await conn.fetch(
            "SELECT position, topic, envelope, trace_context FROM outbox"
            " ORDER BY position LIMIT $1",
            self.batch_size,
        )
        if not rows:
            return 0
        deliveries = [await self._send(producer, row) for row in rows]
        await asyncio.gather(*deliveries)
        await conn.execute(
            "DELETE FROM outbox WHERE position = ANY($1::bigint[])", [r["position"] for r in rows]
        )
        self.published += len(rows)
        RELAY_PUBLISHED.inc(len(rows))
        return len(rows)

    async def _send(self, producer: AIOKafkaProducer, row: asyncpg.Record) -> asyncio.Future[Any]:
        """Queue one record; its span joins the trace the event was recorded in."""
        envelope = EventEnvelope.model_validate(row["envelope"])
        record = to_record(envelope)
        with tracer.start_as_current_span(
            f"publish {row['topic']}", context=context_from(row["trace_context"]),
            kind=SpanKind.PRODUCER, attributes={"messaging.system": "kafka",
                                                "iopnet.event_type": envelope.type},
        ):
            headers = record.headers + [(k, v.encode()) for k, v in current_trace_context().items()]
            future: asyncio.Future[Any] = await producer.send(
                row["topic"], value=record.value, key=record.key, headers=headers
            )
        return future

    async def _become_leader(self, conn: Connection, stop: asyncio.Event) -> None:
        while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _RELAY_LOCK):
            log.info("another relay is active; standing by")
            if await _wait(stop, SAFETY_POLL_SECONDS):
                return

    async def _sleep_until_woken(self, stop: asyncio.Event) -> None:
        stopping = asyncio.create_task(stop.wait())
        woken = asyncio.create_task(self._wake.wait())
        await asyncio.wait({stopping, woken}, timeout=SAFETY_POLL_SECONDS,
                           return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        woken.cancel()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Wait for ``event`` at most ``seconds``; True when it was set."""
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        return False
    return True
