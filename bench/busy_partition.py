"""Does a busy partition hold up another partition's records in the consumer runner?

``python -m bench.busy_partition --pg-admin-dsn … --kafka-bootstrap …``: a topic of two
partitions, a ``ConsumerRunner`` on a fresh database whose projector takes 20 ms an event
on partition 0, kept busy by five records every 50 ms; a probe record on partition 1 every
200 ms, timed in this process from its send to its projection. aiokafka's fetcher sends no
fetch to a broker while a partition's fetched records wait to be taken (up to 100 ms), so a
runner that leaves a busy partition's read-ahead in the fetcher delays the probes.
"""

from __future__ import annotations

import os
import uuid

os.environ.setdefault("IOPNET_TOPIC_NAMESPACE", f"benchb{uuid.uuid4().hex[:6]}")

import argparse
import asyncio
import time
from datetime import date

from aiokafka import AIOKafkaProducer

from bench.load import load_average, percentile
from iopctl.kafka_principals import admin_options
from iopctl.pgsql import drop_database, recreate_database
from iopnet.catalog import DomainEvent, PatientReferred, ReferralSource
from iopnet.consumer import ConsumerRunner, Projection
from iopnet.db import Connection, create_pool
from iopnet.envelope import EventEnvelope
from iopnet.eventstore import Cause, EventStore
from iopnet.kafka_binding import to_record
from iopnet.migrate import apply_migrations
from tests.integration.kafka_helpers import delete_topic, new_topic

BUSY, PROBE = "busy", "probe"


class Probes:
    def __init__(self) -> None:
        self.sent: dict[str, float] = {}
        self.seen: dict[str, float] = {}

    async def project(self, conn: Connection, event: DomainEvent, envelope: EventEnvelope
                      ) -> None:
        assert isinstance(event, PatientReferred)
        if event.referral_id == BUSY:
            await asyncio.sleep(0.02)  # a slow projector: its partition is always under way
        else:
            self.seen[envelope.id] = time.time()

    def delays(self) -> list[float]:
        return [self.seen[e] - self.sent[e] for e in self.sent if e in self.seen]


async def measure(admin_dsn: str, bootstrap: str, probes: int) -> list[float]:
    database = f"bench_busy_{uuid.uuid4().hex[:6]}"
    dsn = await recreate_database(admin_dsn, database)
    topic = await new_topic(bootstrap, partitions=2)
    timed, store, stop = Probes(), EventStore.of("intake"), asyncio.Event()
    try:
        await apply_migrations(dsn, [])
        pool = await create_pool(dsn)
        runner = ConsumerRunner(
            group_id=f"bench-busy-{uuid.uuid4().hex[:6]}", pool=pool,
            projection=Projection(topics=[topic], projectors={PatientReferred: timed.project}),
            bootstrap_servers=bootstrap, client_options=admin_options(bootstrap))
        running = asyncio.create_task(runner.run(stop))
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **admin_options(bootstrap))
        await producer.start()

        async def send(kind: str, partition: int) -> None:
            patient = str(uuid.uuid4())
            referral = PatientReferred(patient_id=patient, site_id="s", referral_id=kind,
                                       source=ReferralSource.SELF,
                                       referred_on=date(2026, 11, 25))
            envelope = store.envelopes(f"patient-{patient}", 0, [referral], Cause("b", "b"))[0]
            record = to_record(envelope)
            if kind == PROBE:
                timed.sent[envelope.id] = time.time()
            await producer.send(topic, record.value, key=record.key, headers=record.headers,
                                partition=partition)

        async def keep_busy() -> None:
            while True:
                for _ in range(5):
                    await send(BUSY, 0)
                await asyncio.sleep(0.05)

        try:
            await asyncio.sleep(5)  # the group joined
            busy = asyncio.create_task(keep_busy())
            for _ in range(probes):
                await send(PROBE, 1)
                await asyncio.sleep(0.2)
            await asyncio.sleep(2)
            busy.cancel()
        finally:
            stop.set()
            await producer.stop()
            await running
            await pool.close()
        return timed.delays()
    finally:
        await drop_database(admin_dsn, database)
        await delete_topic(bootstrap, topic)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pg-admin-dsn", required=True)
    parser.add_argument("--kafka-bootstrap", required=True)
    parser.add_argument("--probes", type=int, default=60)
    args = parser.parse_args()
    delays = asyncio.run(measure(args.pg_admin_dsn, args.kafka_bootstrap, args.probes))
    cells = " / ".join(f"{percentile(delays, q) * 1000:.0f}" for q in (0.5, 0.95, 0.99))
    print(f"probe beside a busy partition, {len(delays)} of {args.probes}: p50 / p95 / p99"
          f" {cells} ms, max {max(delays) * 1000:.0f} ms (load {load_average():.1f})")


if __name__ == "__main__":
    main()
