"""The relay's share of propagation: from an event's commit to the broker's record of it.

``python -m bench.relay_latency --pg-admin-dsn … --kafka-bootstrap …`` appends one event
at a time (a transaction of its own, ``--every`` seconds apart) to a fresh database while
``OutboxRelay`` runs on it as a worker runs it, and compares each commit's time (this
process's clock, right after ``COMMIT`` returned) with its Kafka record's timestamp
(CreateTime: the relay's producer taking the record). What is left between the two is the
NOTIFY, the relay's wake-up, its round (leadership, the outbox read) and the send call.
"""

from __future__ import annotations

import os
import uuid

# Before anything computes a topic name: the bench's events stay in topics of their own.
os.environ.setdefault("IOPNET_TOPIC_NAMESPACE", f"benchr{uuid.uuid4().hex[:6]}")

import argparse
import asyncio
import time
from datetime import UTC, date, datetime

from bench.load import load_average, percentile
from bench.stages import published
from iopctl.kafka_admin import ensure_topics
from iopctl.kafka_principals import admin_options
from iopctl.pgsql import drop_database, recreate_database
from iopnet.catalog import PatientReferred, ReferralSource
from iopnet.db import connect
from iopnet.eventstore import Cause, EventStore
from iopnet.migrate import apply_migrations
from iopnet.relay import OutboxRelay
from tests.fixtures.kafka import drop_topics


async def measure(admin_dsn: str, bootstrap: str, events: int, every: float) -> list[float]:
    database = f"bench_relay_{uuid.uuid4().hex[:6]}"
    dsn = await recreate_database(admin_dsn, database)
    await ensure_topics(bootstrap)
    store, stop = EventStore.of("intake"), asyncio.Event()
    try:
        await apply_migrations(dsn, [])
        relay = OutboxRelay(dsn=dsn, bootstrap_servers=bootstrap, channel=store.channel,
                            client_options=admin_options(bootstrap), topics=[store.topic])
        running = asyncio.create_task(relay.run(stop))
        conn = await connect(dsn)
        committed: dict[uuid.UUID, datetime] = {}
        try:
            await asyncio.sleep(2)  # the producer connected
            for _ in range(events):
                patient = str(uuid.uuid4())
                referral = PatientReferred(patient_id=patient, site_id="s-1", referral_id="r",
                                           source=ReferralSource.SELF,
                                           referred_on=date(2026, 11, 25))
                async with conn.transaction():
                    [envelope] = await store.append(conn, f"patient-{patient}", 0, [referral],
                                                    Cause("bench", "bench"))
                committed[uuid.UUID(envelope.id)] = datetime.now(UTC)
                await asyncio.sleep(every)
            sent = await published(bootstrap, store.topic, committed)
        finally:
            stop.set()
            await running
            await conn.close()
        return [(sent[e] - committed[e]).total_seconds() for e in committed if e in sent]
    finally:
        await drop_database(admin_dsn, database)
        await drop_topics(bootstrap)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pg-admin-dsn", required=True)
    parser.add_argument("--kafka-bootstrap", required=True)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--every", type=float, default=0.05)
    args = parser.parse_args()
    before = load_average()
    started = time.monotonic()
    delays = asyncio.run(measure(args.pg_admin_dsn, args.kafka_bootstrap, args.events,
                                 args.every))
    cells = ", ".join(f"p{int(q * 100)} {percentile(delays, q) * 1000:.1f} ms"
                      for q in (0.5, 0.95, 0.99))
    print(f"commit → published by the relay, {len(delays)} events: {cells},"
          f" max {max(delays) * 1000:.1f} ms (load {before:.1f} → {load_average():.1f},"
          f" {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
