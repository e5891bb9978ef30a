"""The outbox relay: publishes committed events to Kafka, in order, at least once.

- One relay per service database publishes at a time. Leadership is taken per
  batch (a transaction-scoped advisory lock), and the relay's session has
  statement, lock and idle-in-transaction timeouts: a relay that stalls on a
  half-open connection loses its lock when the server ends the session, and a
  standby takes over, instead of publishing stopping unnoticed for hours.
- It wakes on NOTIFY from ``EventStore.append`` and drains the outbox in
  batches ordered by position; a slow timer is only a safety net.
- Rows are deleted only after Kafka acknowledged them: the acknowledged prefix
  of a batch is deleted even when a later record fails, so a restart re-sends
  only what was not acknowledged. A crash in between republishes (at least
  once; consumers drop duplicates by event id), never loses or reorders.
- A row the broker refuses for good (too large, unreadable) is parked with an
  alert; later rows with the same key wait behind it, other keys go on.
- A round that makes no progress within ``round_timeout`` fails, and the
  worker starts the relay again on a new connection (liveness by progress).
- At start it checks that the topics it publishes to exist: brokers never
  create them, and a missing topic is an operator's error to say clearly.
- The producer is idempotent (acks=all), so its own retries cannot reorder
  or duplicate records within a partition.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordTooLargeError,
    UnsupportedVersionError,
)
from opentelemetry import context
from pydantic import ValidationError

from iopnet.db import Connection, connect
from iopnet.envelope import EventEnvelope
from iopnet.kafka_binding import to_record
from iopnet.metrics import RELAY_PROGRESS, RELAY_PUBLISHED
from iopnet.telemetry import context_from, instrument_libraries

log = logging.getLogger(__name__)

RELAY_LOCK = 0x0E1A7  # advisory lock key: one active relay per database
SAFETY_POLL_SECONDS = 5.0
#: The relay's session: a statement or lock wait that long is a stall, not work.
SESSION_TIMEOUTS = {"statement_timeout": "30s", "lock_timeout": "10s",
                    "idle_in_transaction_session_timeout": "60s"}
#: Failures no retry can cure: the row is parked.
NEVER_PUBLISHABLE = (RecordTooLargeError, MessageSizeTooLargeError, InvalidTopicError,
                     UnsupportedVersionError, ValidationError, UnicodeError)

#: Oldest first; a row waits while an earlier row with its key is parked.
_NEXT_BATCH = """
SELECT o.position, o.topic, o.envelope, o.trace_context FROM outbox o
WHERE o.parked_at IS NULL AND NOT EXISTS (
    SELECT 1 FROM outbox p WHERE p.parked_at IS NOT NULL AND p.topic = o.topic
    AND p.envelope->>'subject' = o.envelope->>'subject' AND p.position < o.position)
ORDER BY o.position LIMIT $1
"""


class MissingTopic(RuntimeError):
    """A topic the relay publishes to does not exist on the broker."""


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
        topics: Sequence[str] = (),
        round_timeout: float = 60.0,
        safety_poll_seconds: float = SAFETY_POLL_SECONDS,
    ) -> None:
        self.dsn = dsn
        self.bootstrap_servers = bootstrap_servers
        self.channel = channel
        self.batch_size = batch_size
        self.client_id = client_id
        self.client_options = dict(client_options or {})
        self.topics = topics
        self.round_timeout = round_timeout
        self.safety_poll_seconds = safety_poll_seconds
        self.rounds = 0
        self.published = 0
        self.parked = 0
        self._wake = asyncio.Event()
        instrument_libraries()  # the traceparent header on each record comes from it

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop`` is set, then flush what was taken and return."""
        conn = await connect(self.dsn, server_settings=SESSION_TIMEOUTS,
                             command_timeout=self.round_timeout)
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            client_id=self.client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            **self.client_options,
        )
        try:
            await conn.add_listener(self.channel, self._on_notify)
            await producer.start()
            await self._check_topics(producer)
            while not stop.is_set():
                async with asyncio.timeout(self.round_timeout):
                    taken = await self.publish_batch(conn, producer)
                self.rounds += 1
                RELAY_PROGRESS.set(time.time())
                if taken is None or taken < self.batch_size:
                    await self._sleep_until_woken(stop)
        finally:
            await producer.stop()
            await conn.close()

    async def publish_batch(self, conn: Connection, producer: AIOKafkaProducer) -> int | None:
        """Publish the oldest publishable rows as leader; how many left the outbox,
        or None when another relay leads."""
        self._wake.clear()
        async with conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", RELAY_LOCK):
                return None
            rows = await conn.fetch(_NEXT_BATCH, self.batch_size)
            if not rows:
                return 0
            acknowledged, failure = await self._deliver(producer, rows)
            await conn.execute("DELETE FROM outbox WHERE position = ANY($1::bigint[])",
                               [row["position"] for row in rows[:acknowledged]])
            if failure is not None:
                await self._park_or_raise(conn, rows[acknowledged], failure)
        self.published += acknowledged
        RELAY_PUBLISHED.inc(acknowledged)
        return acknowledged + (failure is not None)

    async def _deliver(self, producer: AIOKafkaProducer, rows: Sequence[asyncpg.Record]
                       ) -> tuple[int, Exception | None]:
        """Send every row, wait for the acks: how many in a row were acknowledged, and
        the failure that ended the run (None when all were)."""
        deliveries: list[asyncio.Future[Any]] = []
        failure: Exception | None = None
        for row in rows:
            try:
                deliveries.append(await self._send(producer, row))
            except Exception as refused:
                failure = refused
                break
        outcomes = await asyncio.gather(*deliveries, return_exceptions=True)
        for sent, outcome in enumerate(outcomes):
            if isinstance(outcome, Exception):
                return sent, outcome
        return len(outcomes), failure

    async def _park_or_raise(self, conn: Connection, row: asyncpg.Record,
                             failure: Exception) -> None:
        if not isinstance(failure, NEVER_PUBLISHABLE):
            raise failure  # the broker may take it later: the worker retries
        log.error("parking outbox row %s for good: %r", row["position"], failure)
        await conn.execute(
            "UPDATE outbox SET parked_at = now(), parked_error = $2 WHERE position = $1",
            row["position"], repr(failure)[:2000])
        self.parked += 1

    async def _send(self, producer: AIOKafkaProducer, row: asyncpg.Record) -> asyncio.Future[Any]:
        """Queue one record in the trace the event was recorded in: the aiokafka
        instrumentation opens the send span there and writes its ``traceparent`` header."""
        record = to_record(EventEnvelope.model_validate(row["envelope"]))
        recorded_in = context.attach(context_from(row["trace_context"]))
        try:
            future: asyncio.Future[Any] = await producer.send(
                row["topic"], value=record.value, key=record.key, headers=list(record.headers))
        finally:
            context.detach(recorded_in)
        return future

    async def _check_topics(self, producer: AIOKafkaProducer) -> None:
        known = await producer.client.fetch_all_metadata()
        missing = sorted(set(self.topics) - known.topics())
        if missing:
            raise MissingTopic(f"topics {', '.join(missing)} do not exist on"
                               f" {self.bootstrap_servers}: create them (iopctl topics ensure)")

    async def _sleep_until_woken(self, stop: asyncio.Event) -> None:
        stopping = asyncio.create_task(stop.wait())
        woken = asyncio.create_task(self._wake.wait())
        await asyncio.wait({stopping, woken}, timeout=self.safety_poll_seconds,
                           return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        woken.cancel()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()
