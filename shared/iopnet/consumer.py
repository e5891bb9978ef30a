"""The consumer runner: feeds other services' events into this service's projections.

- One consumer group per service; offsets are committed only after the
  projection's transaction committed, so a crash means redelivery, not loss.
- Each event is applied in one transaction that also records its id in
  ``applied_events``: applying the same event twice changes nothing.
- A partition's records are applied one after another (per-patient order);
  partitions proceed side by side.
- An event that still fails after retries goes to ``dead_letters`` with its
  raw bytes, and the partition moves on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from iopnet.catalog import DomainEvent, parse_event
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.kafka_binding import MalformedRecord, from_record
from iopnet.metrics import DEAD_LETTERED, PROJECTION_SECONDS, Stopwatch
from iopnet.telemetry import context_from, tracer

log = logging.getLogger(__name__)
TRACE_HEADERS = ("traceparent", "tracestate")

Projector = Callable[[Connection, DomainEvent, EventEnvelope], Awaitable[None]]
#: Raises MalformedRecord for a record its topic may not carry (see iopnet.provenance).
ProvenanceCheck = Callable[[str, EventEnvelope], None]


@dataclass(frozen=True)
class Projection:
    """What a service does with others' events, per event class.

    ``projectors`` write derived tables only: a rebuild replays them.
    ``reactions`` run after them, in the same transaction, and call the
    service's command handlers (draft a plan, schedule sessions); a rebuild
    never runs them, since what they recorded is already in the event store.
    """

    topics: Sequence[str]
    projectors: Mapping[type[DomainEvent], Projector] = field(default_factory=dict)
    reactions: Mapping[type[DomainEvent], Projector] = field(default_factory=dict)

    def merged(self, other: Projection) -> Projection:
        topics = list(dict.fromkeys([*self.topics, *other.topics]))
        return Projection(topics=topics, projectors={**self.projectors, **other.projectors},
                          reactions={**self.reactions, **other.reactions})

    def projector_for(self, envelope: EventEnvelope) -> Projector | None:
        projector = _by_type(self.projectors, envelope.type)
        reaction = _by_type(self.reactions, envelope.type)
        if projector is None or reaction is None:
            return projector or reaction

        async def project_then_react(conn: Connection, event: DomainEvent,
                                     envelope: EventEnvelope) -> None:
            await projector(conn, event, envelope)
            await reaction(conn, event, envelope)

        return project_then_react


def _by_type(projectors: Mapping[type[DomainEvent], Projector], event_type: str
             ) -> Projector | None:
    for event_class, projector in projectors.items():
        if event_class.event_type == event_type:
            return projector
    return None


class ConsumerRunner:
    def __init__(
        self,
        *,
        group_id: str,
        projection: Projection,
        pool: asyncpg.Pool,
        bootstrap_servers: str,
        attempts: int = 3,
        retry_delay: float = 0.2,
        client_options: Mapping[str, Any] | None = None,
        provenance: ProvenanceCheck | None = None,
    ) -> None:
        self.group_id = group_id
        self.projection = projection
        self.pool = pool
        self.bootstrap_servers = bootstrap_servers
        self.attempts = attempts
        self.retry_delay = retry_delay
        self.client_options = dict(client_options or {})
        self.provenance = provenance
        self.applied = 0

    async def run(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            *self.projection.topics,
            bootstrap_servers=self.bootstrap_servers,
            group_id=self.group_id,
            client_id=f"{self.group_id}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self.client_options,
        )
        await consumer.start()
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=500)
                if batches:
                    await asyncio.gather(*(self.apply_all(rs) for rs in batches.values()))
                    await consumer.commit(
                        {tp: records[-1].offset + 1 for tp, records in batches.items()}
                    )
        finally:
            await consumer.stop()

    async def apply_all(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        for record in records:
            await self.apply(record)

    async def apply(self, record: ConsumerRecord[bytes, bytes]) -> None:
        """Apply one record, retrying, then dead-lettering it if it keeps failing."""
        error: Exception | None = None
        for attempt in range(self.attempts):
            try:
                await self._apply_once(record)
                return
            except (MalformedRecord, ValidationError) as invalid:
                error = invalid
                break  # retrying cannot make a malformed record valid
            except Exception as failure:
                error = failure
                await asyncio.sleep(self.retry_delay * 2**attempt)
        log.error("dead-lettering %s[%s]@%s: %s", record.topic, record.partition,
                  record.offset, type(error).__name__)
        await self._dead_letter(record, error)
        DEAD_LETTERED.inc()

    async def _apply_once(self, record: ConsumerRecord[bytes, bytes]) -> None:
        envelope = from_record(record.value or b"", list(record.headers))
        projector = self.projection.projector_for(envelope)
        if projector is None:
            return  # an event this service does not project
        if self.provenance is not None:
            self.provenance(record.topic, envelope)
        event = parse_event(envelope)
        carrier = {k: v.decode(errors="replace") for k, v in record.headers
                   if k in TRACE_HEADERS}
        with tracer.start_as_current_span(
            f"project {envelope.type}", context=context_from(carrier), kind=SpanKind.CONSUMER,
            attributes={"messaging.system": "kafka", "iopnet.consumer_group": self.group_id},
        ):
            watch = Stopwatch()
            await self._project_once(projector, event, envelope)
            PROJECTION_SECONDS.labels(envelope.type).observe(watch.seconds)

    async def _project_once(self, projector: Projector, event: DomainEvent,
                            envelope: EventEnvelope) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            first_time = await conn.fetchval(
                "INSERT INTO applied_events (event_id) VALUES ($1)"
                " ON CONFLICT DO NOTHING RETURNING true",
                envelope.id,
            )
            if first_time:
                await projector(conn, event, envelope)
                self.applied += 1

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], error: Exception | None
    ) -> None:
        headers = {name: raw.decode(errors="replace") for name, raw in record.headers}
        async with self.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO dead_letters (topic, partition, \"offset\", event_id, event_type,"
                " error, headers, value) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                record.topic,
                record.partition,
                record.offset,
                headers.get("ce_id"),
                headers.get("ce_type"),
                repr(error),
                headers,
                record.value or b"",
            )

