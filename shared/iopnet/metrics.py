"""Prometheus metrics: what ops watch before it hurts.

Counters and histograms are updated where things happen (requests, appends,
projections, deliveries). The figures that live in Postgres or Kafka (outbox
backlog and age, dead letters, consumer lag per partition) are read when
``/metrics`` is scraped, so they are right whichever process did the work.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import Counter, Gauge, Histogram

REQUEST_SECONDS = Histogram(
    "iopnet_http_request_duration_seconds", "HTTP request latency",
    ["method", "route", "status"],
)
EVENTS_APPENDED = Counter("iopnet_events_appended_total", "Events recorded", ["event_type"])
RELAY_PUBLISHED = Counter("iopnet_relay_published_total", "Events published to Kafka")
PROJECTION_SECONDS = Histogram(
    "iopnet_projection_apply_seconds", "Time to apply one event to the projections",
    ["event_type"],
)
ROUND_ITEMS_FAILED = Counter("iopnet_round_items_failed_total",
                             "Items a calendar round could not handle (left for the next)")
BATCH_SIZES = Histogram(
    "iopnet_consumer_batch_records", "Records of a partition applied in one transaction",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
DEAD_LETTERED = Counter("iopnet_dead_lettered_total", "Events a projection gave up on")
PARKED = Counter("iopnet_parked_total",
                 "Records parked behind a dead letter of the same key (patient or site)")
NOTIFICATION_DELIVERIES = Counter(
    "iopnet_notification_deliveries_total", "Notification delivery attempts",
    ["channel", "outcome"],
)
OUTBOX_BACKLOG = Gauge("iopnet_outbox_backlog", "Events recorded but not yet published")
OUTBOX_OLDEST_AGE = Gauge(
    "iopnet_outbox_oldest_age_seconds", "Age of the oldest unpublished event (0 when none)",
)
OUTBOX_PARKED = Gauge("iopnet_outbox_parked",
                      "Events the broker refused for good, waiting for an operator")
RELAY_PROGRESS = Gauge("iopnet_relay_last_progress_timestamp_seconds",
                       "When the relay last completed a round (published or found nothing)")
DEAD_LETTERS = Gauge("iopnet_dead_letters", "Dead letters waiting for an operator")
PARKED_RECORDS = Gauge("iopnet_parked_records",
                       "Records waiting behind an open dead letter of the same key")
CONSUMER_LAG = Gauge(
    "iopnet_consumer_lag", "Records not yet applied by this service's consumer group",
    ["topic", "partition"],
)


async def read_database_gauges(pool: asyncpg.Pool) -> None:
    row = await pool.fetchrow(
        "SELECT count(*) AS backlog,"
        " coalesce(extract(epoch FROM now() - min(enqueued_at)), 0) AS oldest,"
        " (SELECT count(*) FROM dead_letters WHERE resolved_at IS NULL) AS dead,"
        " (SELECT count(*) FROM parked_records) AS waiting,"
        " count(*) FILTER (WHERE parked_at IS NOT NULL) AS parked FROM outbox"
    )
    assert row is not None
    OUTBOX_PARKED.set(row["parked"])
    OUTBOX_BACKLOG.set(row["backlog"])
    OUTBOX_OLDEST_AGE.set(float(row["oldest"]))
    DEAD_LETTERS.set(row["dead"])
    PARKED_RECORDS.set(row["waiting"])


class LagProbe:
    """Asks the broker how far a consumer group is behind the end of its topics."""

    def __init__(self, bootstrap_servers: str, group_id: str, topics: Sequence[str],
                 client_options: Mapping[str, Any] | None = None) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.client_options = dict(client_options or {})
        self.group_id = group_id
        self.topics = topics
        self._clients: tuple[AIOKafkaAdminClient, AIOKafkaConsumer] | None = None

    async def _connected(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._clients is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers,
                                        **self.client_options)
            ends = AIOKafkaConsumer(bootstrap_servers=self.bootstrap_servers,
                                    **self.client_options)
            await admin.start()
            await ends.start()
            self._clients = admin, ends
        return self._clients

    async def read(self) -> None:
        if not self.topics:
            return
        admin, ends_reader = await self._connected()
        described = await admin.describe_topics(list(self.topics))
        partitions = [TopicPartition(topic["topic"], p["partition"])
                      for topic in described for p in topic["partitions"]]
        committed = await admin.list_consumer_group_offsets(self.group_id)
        ends = await ends_reader.end_offsets(partitions)
        for partition in partitions:
            done = committed.get(partition)
            position = done.offset if done is not None and done.offset >= 0 else 0
            CONSUMER_LAG.labels(partition.topic, str(partition.partition)).set(
                max(0, ends[partition] - position))

    async def close(self) -> None:
        if self._clients is not None:
            admin, ends = self._clients
            with contextlib.suppress(Exception):
                await admin.close()
            with contextlib.suppress(Exception):
                await ends.stop()


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started
