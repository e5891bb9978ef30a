"""``make bench`` (consumers part): how fast each service's consumer applies a backlog.

The consumer runner alone, on real servers: ``--patients`` admissions (intake's
``PatientAdmitted``) and each patient's schedule of ``--sessions`` sessions (sessions'
``SessionsScheduled``) published to topics of a namespace of its own; then, for each
consuming service in turn, a fresh database (migrated, with the site and, for
sessions, a program of five weekly groups), and that service's own
``ConsumerRunner`` and ``Projection`` started on it, as its worker runs them
(provenance checked, reactions included: sessions schedules each admission's
weeks). Its rate is the events it took in over the time from its first applied
batch to its last, and the facts they carried (a schedule: its sessions; sessions'
own: the sessions its reactions scheduled); the CPU this process spent (the
runner's: the database's is not in it) an event beside it.

Runs on the Postgres at ``--pg-admin-dsn`` and the broker at ``--kafka-bootstrap``
(defaults: ``IOPNET_BENCH_PG_DSN`` / ``IOPNET_BENCH_KAFKA``, else the local servers
``make bench`` started);
its databases and topics are removed afterwards.
"""

from __future__ import annotations

import os
import uuid

# Before anything computes a topic name: the bench's events stay in topics of their own.
os.environ.setdefault("IOPNET_TOPIC_NAMESPACE", f"benchc{uuid.uuid4().hex[:6]}")

import argparse
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time

import asyncpg
from aiokafka import AIOKafkaProducer

from bench.clock import SCHEDULE
from bench.load import load_average, percentile
from iopctl import infra
from iopctl.kafka_admin import ensure_topics, with_admin
from iopctl.kafka_principals import admin_options
from iopctl.pgsql import drop_database, recreate_database
from iopctl.stack import spec_of
from iopnet.catalog import (
    Modality,
    PatientAdmitted,
    ScheduledSession,
    SessionKind,
    SessionsScheduled,
)
from iopnet.consumer import ConsumerRunner
from iopnet.db import create_pool
from iopnet.envelope import EventEnvelope
from iopnet.eventstore import Cause, EventStore
from iopnet.kafka_binding import to_record
from iopnet.provenance import check_provenance
from iopnet.topics import all_topics, namespace
from services.sessions import commands as sessions
from services.sessions.domain import Group

SITE = "bench-site"
CAUSE = Cause("bench", "bench")
CONSUMERS = ("sessions", "plans", "family", "notifications")
WEEKDAY_GROUPS = [(0, Modality.GROUP_THERAPY), (1, Modality.PSYCHOEDUCATION),
                  (2, Modality.MINDFULNESS), (3, Modality.SKILL_BUILDING),
                  (4, Modality.GROUP_THERAPY)]


def program_start() -> date:
    """A Monday some weeks ahead: nothing of the program has begun or is due today."""
    ahead = date.today() + timedelta(weeks=4)
    return ahead + timedelta(days=-ahead.weekday() % 7)


def events_of(patient_id: str, sessions_each: int, start: date
              ) -> list[tuple[EventStore, EventEnvelope]]:
    """A patient's admission, and the schedule of its weeks as sessions records it (one
    ``SessionsScheduled``)."""
    intake, scheduled = EventStore.of("intake"), EventStore.of("sessions")
    admitted = PatientAdmitted(patient_id=patient_id, site_id=SITE, program_id="iop",
                               start_date=start, days_per_week=5, planned_weeks=10,
                               clinician_id="clin-7", baseline_phq9=18)
    made = [(intake, intake.envelopes(f"patient-{patient_id}", 0, [admitted], CAUSE)[0])]
    sessions_of = [ScheduledSession(
        session_id=str(uuid.uuid4()), group_id=f"g-{n % 5}", kind=SessionKind.GROUP,
        modality=Modality.GROUP_THERAPY,
        starts_at=datetime.combine(start + timedelta(days=n // 5 * 7 + n % 5), clock_time(15),
                                   tzinfo=UTC),
        duration_minutes=180, clinician_id="clin-7") for n in range(sessions_each)]
    if sessions_of:
        schedule = SessionsScheduled(patient_id=patient_id, site_id=SITE, sessions=sessions_of)
        made.append((scheduled, scheduled.envelopes(f"enrollment-{patient_id}", 0, [schedule],
                                                    CAUSE)[0]))
    return made


async def publish(bootstrap: str, patients: int, sessions_each: int) -> dict[str, int]:
    """The backlog on the bench's topics; how many events each topic got."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all",
                                **admin_options(bootstrap))
    await producer.start()
    counts: dict[str, int] = {}
    try:
        start = program_start()
        sent = []
        for _ in range(patients):
            for store, envelope in events_of(str(uuid.uuid4()), sessions_each, start):
                record = to_record(envelope)
                sent.append(await producer.send(store.topic, record.value, key=record.key,
                                                headers=record.headers))
                counts[store.topic] = counts.get(store.topic, 0) + 1
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return counts


async def seed(pool: asyncpg.Pool, service: str, start: date) -> None:
    """What the network registry would have told the service: the site; for sessions, the
    program and its five weekly groups."""
    await pool.execute(
        "INSERT INTO sites (site_id, name, time_zone, policies)"
        " VALUES ($1, 'Bench', 'America/Chicago', '{}')", SITE)
    if service != "sessions":
        return
    before = datetime.combine(start - timedelta(weeks=5), clock_time(), tzinfo=UTC)
    async with pool.acquire() as conn, conn.transaction():
        await sessions.define_program(sessions.unit_of_work(conn, CAUSE), SITE, "iop",
                                      "Adult IOP", before)
    for n, (weekday, modality) in enumerate(WEEKDAY_GROUPS):
        group = Group(SITE, "iop", f"g-{n}", modality, f"clin-{n}", weekday, clock_time(9),
                      180, 100_000)
        async with pool.acquire() as conn, conn.transaction():
            await sessions.add_group(sessions.unit_of_work(conn, CAUSE), group, before)


@dataclass
class Drained:
    service: str
    events: int
    seconds: float
    cpu_seconds: float
    dead_letters: int
    load: tuple[float, float]
    #: What the events carried (``bench.clock.CatchUp.facts``): a schedule its sessions.
    facts: int = 0

    def __str__(self) -> str:
        return (f"{self.service}: {self.events:,} events in {self.seconds:.2f} s ="
                f" {self.events / self.seconds:,.0f} events/s"
                f" ({self.facts / self.seconds:,.0f} facts/s);"
                f" {self.cpu_seconds / self.events * 1e6:,.0f} µs of this process's CPU an event;"
                f" {self.dead_letters} dead letters"
                f" (load average {self.load[0]:.1f} before, {self.load[1]:.1f} after)")


@contextlib.asynccontextmanager
async def consuming(admin_dsn: str, bootstrap: str, service: str
                    ) -> AsyncIterator[tuple[asyncpg.Pool, asyncio.Task[None]]]:
    """``service``'s consumer running on a fresh database of its own: its pool and task."""
    database = f"bench_consumers_{service}_{uuid.uuid4().hex[:6]}"
    dsn = await recreate_database(admin_dsn, database)
    pool = None
    try:
        spec = spec_of(service)
        await spec.migrate(dsn)
        pool = await create_pool(dsn)
        await seed(pool, service, program_start())
        projection = spec.consumer_projection()
        assert projection is not None
        runner = ConsumerRunner(group_id=f"bench-{service}-{uuid.uuid4().hex[:6]}",
                                projection=projection, pool=pool, bootstrap_servers=bootstrap,
                                client_options=admin_options(bootstrap),
                                provenance=check_provenance)
        stop = asyncio.Event()
        running = asyncio.create_task(runner.run(stop))
        try:
            yield pool, running
        finally:
            stop.set()
            await running
    finally:
        if pool is not None:
            await pool.close()
        await drop_database(admin_dsn, database)


async def applied(pool: asyncpg.Pool, running: asyncio.Task[None]) -> int:
    if running.done():
        running.result()  # the consumer failed: say why
    count: int = await pool.fetchval("SELECT count(*) FROM applied_events")
    return count


async def drain(admin_dsn: str, bootstrap: str, service: str, expected: int) -> Drained:
    """``service``'s consumer on a fresh database, until it applied ``expected`` events."""
    async with consuming(admin_dsn, bootstrap, service) as (pool, running):
        load_before, cpu = load_average(), time.process_time()
        while await applied(pool, running) < expected:
            await asyncio.sleep(0.02)
        drained, cpu = time.time(), time.process_time() - cpu
        # From the first batch's transaction (the database's clock, the same machine's) to
        # when the last one was seen committed: joining the group is not in it.
        began = await pool.fetchval(
            "SELECT extract(epoch FROM min(applied_at)) FROM applied_events")
        dead = await pool.fetchval("SELECT count(*) FROM dead_letters")
        facts = await pool.fetchval(
            "SELECT (SELECT sum(CASE WHEN event_type = $1"
            " THEN jsonb_array_length(envelope->'data'->'sessions') ELSE 1 END)"
            " FROM applied_events) + (SELECT coalesce(sum(jsonb_array_length("
            "envelope->'data'->'sessions')), 0) FROM events WHERE event_type = $1)",
            SCHEDULE)
        return Drained(service, expected, drained - float(began), cpu, dead,
                       (load_before, load_average()), int(facts))


async def propagation(admin_dsn: str, bootstrap: str, service: str, backlog: int,
                      samples: int, every: float) -> str:
    """While ``service``'s consumer catches up with ``backlog`` events, an admission every
    ``every`` s: from sending it to seeing it applied (polled every 10 ms)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                **admin_options(bootstrap))
    await producer.start()
    intake = EventStore.of("intake")
    sent: dict[uuid.UUID, float] = {}
    seen: dict[uuid.UUID, float] = {}
    try:
        async with consuming(admin_dsn, bootstrap, service) as (pool, running):
            while not await applied(pool, running):
                await asyncio.sleep(0.01)
            load_before = load_average()

            async def admit() -> None:
                for _ in range(samples):
                    _, made = events_of(str(uuid.uuid4()), 0, program_start())[0]
                    record = to_record(made)
                    sent[uuid.UUID(made.id)] = time.time()
                    await producer.send_and_wait(intake.topic, record.value, key=record.key,
                                                 headers=record.headers)
                    await asyncio.sleep(every)

            admitting = asyncio.create_task(admit())
            while len(seen) < samples:
                waiting = [i for i in sent if i not in seen]
                for row in await pool.fetch(
                        "SELECT event_id FROM applied_events WHERE event_id = ANY($1::uuid[])",
                        waiting):
                    seen[row["event_id"]] = time.time()
                await asyncio.sleep(0.01)
            await admitting
            behind = backlog + samples - await applied(pool, running)
    finally:
        await producer.stop()
    latencies = sorted(seen[i] - sent[i] for i in sent)
    return (f"{service}: {samples} admissions during the catch-up, sent to applied:"
            f" p50 {percentile(latencies, 0.5) * 1e3:.0f} ms,"
            f" p95 {percentile(latencies, 0.95) * 1e3:.0f} ms,"
            f" p99 {percentile(latencies, 0.99) * 1e3:.0f} ms, max {latencies[-1] * 1e3:.0f} ms"
            f" ({behind:,} of the backlog still to apply after the last;"
            f" load average {load_before:.1f} before, {load_average():.1f} after)")


def consumed_by(service: str, published: dict[str, int]) -> int:
    projection = spec_of(service).consumer_projection()
    assert projection is not None
    return sum(count for topic, count in published.items() if topic in projection.topics)


async def main(admin_dsn: str, bootstrap: str, patients: int, sessions_each: int,
               services: list[str], samples: int, every: float) -> list[str]:
    await ensure_topics(bootstrap)
    try:
        published = await publish(bootstrap, patients, sessions_each)
        print(f"published {sum(published.values()):,} events ({patients} admissions,"
              f" {sessions_each} sessions each) in namespace {namespace()}", flush=True)
        results = []
        for service in services:
            backlog = consumed_by(service, published)
            result = str(await drain(admin_dsn, bootstrap, service, backlog))
            print(result, flush=True)
            results.append(result)
            if samples:
                result = await propagation(admin_dsn, bootstrap, service, backlog, samples,
                                           every)
                print(result, flush=True)
                results.append(result)
                intake = EventStore.of("intake").topic  # the next consumer takes these too
                published[intake] = published.get(intake, 0) + samples
        return results
    finally:
        names = [spec.name for spec in all_topics()]
        await with_admin(bootstrap, lambda admin: admin.delete_topics(names))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--sessions", type=int, default=50,
                        help="sessions in a patient's schedule (one SessionsScheduled)")
    parser.add_argument("--services", nargs="+", default=list(CONSUMERS), choices=CONSUMERS)
    parser.add_argument("--samples", type=int, default=100,
                        help="admissions timed while each consumer catches up (0: none)")
    parser.add_argument("--every", type=float, default=0.25,
                        help="seconds between two of those admissions")
    parser.add_argument("--pg-admin-dsn", default=os.environ.get("IOPNET_BENCH_PG_DSN"))
    parser.add_argument("--kafka-bootstrap", default=os.environ.get("IOPNET_BENCH_KAFKA"))
    arguments = parser.parse_args()
    local = infra.endpoints()  # the servers `make bench` started
    arguments.pg_admin_dsn = arguments.pg_admin_dsn or local.pg_admin_dsn
    arguments.kafka_bootstrap = arguments.kafka_bootstrap or local.kafka_bootstrap
    return arguments


if __name__ == "__main__":
    arguments = parse_args()
    asyncio.run(main(arguments.pg_admin_dsn, arguments.kafka_bootstrap, arguments.patients,
                     arguments.sessions, arguments.services, arguments.samples,
                     arguments.every))
