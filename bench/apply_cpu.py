"""The CPU a consumer's batches take, per topic, the runner's and Postgres' apart.

``bench.consumers`` times the whole worker (Kafka's fetching, the group's join, the
poll loop): on a shared machine its events/s move by a factor of two between runs. This
takes the records ``bench.consumers`` would publish (``--patients`` admissions on
intake's topic, their schedules on sessions'), never sends them, and hands them to the
service's ``ConsumerRunner.apply_all`` in batches of ``BATCH_RECORDS``, as the poll loop
would, on a fresh database with a pool of one connection, after what ``run`` does first
(``freeze_what_lives_now``). Per topic: this process's CPU an event
(``time.process_time``) and that connection's backend's (``/proc``: Postgres on this
machine), with the wall-clock rate beside them.
"""

from __future__ import annotations

import os
import uuid

os.environ.setdefault("IOPNET_TOPIC_NAMESPACE", f"benchcpu{uuid.uuid4().hex[:6]}")

import argparse
import asyncio
import time
from pathlib import Path

from aiokafka.structs import ConsumerRecord

from bench.consumers import CONSUMERS, events_of, program_start, seed
from iopctl import infra
from iopctl.pgsql import drop_database, recreate_database
from iopctl.stack import spec_of
from iopnet.consumer import BATCH_RECORDS, ConsumerRunner, Record
from iopnet.db import create_pool
from iopnet.heap import freeze_what_lives_now
from iopnet.kafka_binding import to_record
from iopnet.provenance import check_provenance


def backend_cpu(pid: int) -> float:
    """User + system seconds of a process on this machine (a Postgres backend)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def records(patients: int, sessions_each: int) -> dict[str, list[Record]]:
    """Each topic's records, as the poll would hand them over (one partition each)."""
    by_topic: dict[str, list[Record]] = {}
    for _ in range(patients):
        for store, envelope in events_of(str(uuid.uuid4()), sessions_each, program_start()):
            record, topic = to_record(envelope), by_topic.setdefault(store.topic, [])
            topic.append(ConsumerRecord(store.topic, 0, len(topic), 0, 0, record.key,
                                        record.value, None, 0, 0, record.headers))
    return by_topic


async def measure(admin_dsn: str, service: str, patients: int, sessions_each: int) -> str:
    database = f"bench_apply_{service}_{uuid.uuid4().hex[:6]}"
    dsn = await recreate_database(admin_dsn, database)
    try:
        spec = spec_of(service)
        await spec.migrate(dsn)
        pool = await create_pool(dsn, min_size=1, max_size=1)
        try:
            await seed(pool, service, program_start())
            backend = await pool.fetchval("SELECT pg_backend_pid()")
            projection = spec.consumer_projection()
            assert projection is not None
            runner = ConsumerRunner(group_id="bench", projection=projection, pool=pool,
                                    bootstrap_servers="unused", provenance=check_provenance)
            freeze_what_lives_now()  # as ConsumerRunner.run does
            results = []
            for topic, batch in sorted(records(patients, sessions_each).items()):
                if topic not in projection.topics:
                    continue
                cpu, pg, wall = time.process_time(), backend_cpu(backend), time.perf_counter()
                for start in range(0, len(batch), BATCH_RECORDS):
                    await runner.apply_all(batch[start:start + BATCH_RECORDS])
                cpu, pg = time.process_time() - cpu, backend_cpu(backend) - pg
                wall = time.perf_counter() - wall
                results.append(f"{service} ← {topic}: {len(batch)} events, runner"
                               f" {cpu / len(batch) * 1e6:,.0f} µs + Postgres"
                               f" {pg / len(batch) * 1e6:,.0f} µs of CPU an event,"
                               f" {len(batch) / wall:,.0f} events/s")
            return "\n".join(results)
        finally:
            await pool.close()
    finally:
        await drop_database(admin_dsn, database)


async def main(admin_dsn: str, services: list[str], patients: int, sessions_each: int
               ) -> None:
    for service in services:
        print(await measure(admin_dsn, service, patients, sessions_each), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--services", nargs="+", default=list(CONSUMERS), choices=CONSUMERS)
    parser.add_argument("--pg-admin-dsn", default=os.environ.get("IOPNET_BENCH_PG_DSN"))
    arguments = parser.parse_args()
    asyncio.run(main(arguments.pg_admin_dsn or infra.endpoints().pg_admin_dsn,
                     arguments.services, arguments.patients, arguments.sessions))
