"""Event granularity, measured: what one admission's schedule costs each consumer that
applies it, as one event a session (``SessionScheduled``, before) and as one event a
scheduling decision (``SessionsScheduled``, now).

Plans, family and notifications each get a fresh database on the Postgres given. Each of
``--admissions`` patients is admitted, then its schedule (the bench's program: a group
every weekday, five days a week for ten weeks, plus weekly individual counseling: 60
sessions) is applied through the service's consumer projection as the consumer runner
applies a record, one transaction an event (inbox row, projectors, reactions): one way
for even patients, the other for odd ones, alternating. For each consumer and way it
prints, per admission: events (each a transaction), this process's CPU time, the Postgres
backend's CPU time (from ``/proc``: the server must run on this machine) and the wall
time. The databases are dropped afterwards.

    python -m bench.granularity --pg-dsn postgresql://iopnet@127.0.0.1:25432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from datetime import time as clock_time
from pathlib import Path

import asyncpg

from bench.load import load_average
from iopctl.pgsql import drop_database, recreate_database
from iopctl.stack import spec_of
from iopnet.catalog import (
    DomainEvent,
    Modality,
    PatientAdmitted,
    ScheduledSession,
    SessionScheduled,
    SessionsScheduled,
)
from iopnet.consumer import Projection
from iopnet.db import connect
from iopnet.eventstore import Cause, EventStore
from iopnet.inbox import Position
from iopnet.topics import topic_of
from services.sessions.domain import Group, program_schedule

SITE = "site-bench"
ZONE = "America/Chicago"
CONSUMERS = ("plans", "family", "notifications")
WAYS = ("SessionScheduled (one a session)", "SessionsScheduled (one a schedule)")
GROUPS = [Group(SITE, "iop", f"g-{day}", modality, "clin-1", day, clock_time(9), 180, 12)
          for day, modality in enumerate([Modality.GROUP_THERAPY, Modality.PSYCHOEDUCATION,
                                          Modality.MINDFULNESS, Modality.SKILL_BUILDING,
                                          Modality.RELAPSE_PREVENTION])]
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Cost:
    admissions: int = 0
    #: Each applied in a transaction of its own.
    events: int = 0
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    wall: float = 0.0


def schedule_of(patient_id: str, start: date) -> SessionsScheduled:
    occurrences = program_schedule(patient_id, "clin-7", GROUPS, 5, start,
                                   start + timedelta(weeks=10), ZONE)
    return SessionsScheduled(site_id=SITE, patient_id=patient_id, sessions=[
        ScheduledSession(session_id=o.session_id, kind=o.kind, modality=o.modality,
                         group_id=o.group_id, starts_at=o.starts_at,
                         duration_minutes=o.duration_minutes, clinician_id=o.clinician_id)
        for o in occurrences])


def events_of(schedule: SessionsScheduled, one_a_session: bool) -> list[DomainEvent]:
    if not one_a_session:
        return [schedule]
    return [SessionScheduled(site_id=SITE, patient_id=schedule.patient_id, **s.model_dump())
            for s in schedule.sessions]


def server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


async def apply(conn: asyncpg.Connection, projection: Projection, source: str,
                events: list[DomainEvent]) -> None:
    """As the consumer runner applies records: one transaction each."""
    store = EventStore(source=f"/iopnet/{source}", topic=topic_of(source))
    stream = f"x-{uuid.uuid4()}"
    for envelope in store.envelopes(stream, 0, events, Cause(str(uuid.uuid4()), "bench")):
        async with conn.transaction():
            await projection.apply(conn, envelope, Position(topic_of(source)))


async def measure(admin_dsn: str, admissions: int) -> dict[tuple[str, str], Cost]:
    costs: dict[tuple[str, str], Cost] = defaultdict(Cost)
    start = date.today() + timedelta(days=7 - date.today().weekday())  # next Monday
    for service in CONSUMERS:
        name = f"bench_granularity_{service}_{uuid.uuid4().hex[:6]}"
        dsn = await recreate_database(admin_dsn, name)
        try:
            spec = spec_of(service)
            await spec.migrate(dsn)
            projection = spec.consumer_projection()
            assert projection is not None
            conn = await connect(dsn)
            try:
                await conn.execute("INSERT INTO sites (site_id, name, time_zone, policies)"
                                   " VALUES ($1, 'Bench', $2, '{}')", SITE, ZONE)
                pid = await conn.fetchval("SELECT pg_backend_pid()")
                for n in range(admissions):
                    patient_id = str(uuid.uuid4())
                    await apply(conn, projection, "intake", [PatientAdmitted(
                        site_id=SITE, patient_id=patient_id, program_id="iop",
                        start_date=start, days_per_week=5, planned_weeks=10,
                        clinician_id="clin-7", baseline_phq9=18)])
                    events = events_of(schedule_of(patient_id, start), one_a_session=n % 2 == 0)
                    cost = costs[(service, WAYS[n % 2])]
                    cpu, server, wall = time.process_time(), server_cpu(pid), time.perf_counter()
                    await apply(conn, projection, "sessions", events)
                    cost.wall += time.perf_counter() - wall
                    cost.server_cpu += server_cpu(pid) - server
                    cost.client_cpu += time.process_time() - cpu
                    cost.admissions += 1
                    cost.events += len(events)
            finally:
                await conn.close()
        finally:
            await drop_database(admin_dsn, name)
    return costs


def report(costs: dict[tuple[str, str], Cost], admissions: int, load: float) -> str:
    lines = [f"{admissions} admissions, alternating; one-minute load average {load:.1f}",
             "", "| consumer | schedule as | events = transactions | client CPU | Postgres CPU"
             " | wall |", "|---|---|---|---|---|---|"]
    for (service, way), c in sorted(costs.items()):
        n = c.admissions
        lines.append(f"| {service} | {way} | {c.events / n:.0f} | "
                     f"{1000 * c.client_cpu / n:.0f} ms | {1000 * c.server_cpu / n:.0f} ms | "
                     f"{1000 * c.wall / n:.0f} ms |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-dsn", required=True, help="a superuser's DSN (makes databases)")
    parser.add_argument("--admissions", type=int, default=20)
    options = parser.parse_args()
    load = load_average()
    costs = asyncio.run(measure(options.pg_dsn, options.admissions))
    print(report(costs, options.admissions, load))


if __name__ == "__main__":
    main()
