"""``make bench`` (streams part): rebuilding a service's tables, and redriving dead letters.

- **rebuild**: family's store filled with the circles of N patients, recorded
  through family's own aggregate (open, a support person linked and named
  (sealed), two consents, one replaced, a family session), and its inbox with
  the events a family consumer takes in for them (admission, eight sessions
  scheduled, two PHQ-9s); then ``iopnet.rebuild`` of every derived table,
  swapped in. Events per second over the whole rebuild (read, project, swap).
- **redrive**: 1,000 dead letters (admissions family could not apply), each with
  a later record of the same patient parked behind it, redriven through
  family's consumer projection (projector and reaction: the circle opens), in
  order, as ``iopctl dead-letters redrive --all`` does.

Runs on fresh databases of the Postgres at ``--pg-admin-dsn`` (default: the local
cluster ``make bench`` starts), dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from iopctl import postgres
from iopctl.dead_letters import resolve_all
from iopctl.pgsql import drop_database, recreate_database
from iopctl.stack import spec_of
from iopnet.catalog import (
    ConsentScope,
    DomainEvent,
    Instrument,
    Modality,
    OutcomeMeasured,
    PatientAdmitted,
    Relationship,
    SessionKind,
    SessionScheduled,
)
from iopnet.db import Connection, connect
from iopnet.dead_letters import Letter, Resolver, park, store
from iopnet.eventstore import Cause, EventStore
from iopnet.kafka_binding import to_record
from iopnet.provenance import check_provenance
from iopnet.rebuild import describe, rebuild
from iopnet.topics import topic_of
from services.family.domain import Attendance, FamilyCircle, FamilySession, FamilySessionKind
from services.family.domain.circle import PersonName

TODAY = date(2026, 12, 1)
INTAKE, SESSIONS, FAMILY = (EventStore.of(s) for s in ("intake", "sessions", "family"))
CAUSE = Cause("bench", "bench")


def circle_of(patient_id: str) -> FamilyCircle:
    """Family's own events of one patient, through its aggregate."""
    circle = FamilyCircle(patient_id)
    circle.open("bench-site", TODAY, 18)
    person = str(uuid.uuid4())
    circle.link_support_person(person, Relationship.PARTNER, PersonName("Grace", "Example"))
    circle.grant_consent(str(uuid.uuid4()), person, ConsentScope.SCHEDULE, None, TODAY)
    circle.grant_consent(str(uuid.uuid4()), person, ConsentScope.PROGRESS_SUMMARIES, None,
                         TODAY)
    circle.hold_family_session(FamilySession(
        str(uuid.uuid4()), FamilySessionKind.FAMILY_THERAPY, TODAY, "clin-7",
        (Attendance(person, True),)), TODAY)
    return circle


def consumed_events(patient_id: str) -> list[tuple[EventStore, DomainEvent]]:
    """What a family consumer takes in for one patient."""
    site = "bench-site"
    events: list[tuple[EventStore, DomainEvent]] = [(INTAKE, admission(patient_id))]
    events += [(SESSIONS, SessionScheduled(
        patient_id=patient_id, site_id=site, session_id=str(uuid.uuid4()),
        group_id="g-1", kind=SessionKind.GROUP, modality=Modality.GROUP_THERAPY,
        starts_at=datetime(2026, 12, 1 + n, 15, tzinfo=UTC), duration_minutes=180,
        clinician_id="clin-7"))
        for n in range(8)]
    events += [(SESSIONS, OutcomeMeasured(
        patient_id=patient_id, site_id=site, measure_id=str(uuid.uuid4()),
        instrument=Instrument.PHQ9, total=18 - 3 * n, measured_on=TODAY + timedelta(weeks=n),
        program_week=n + 1))
        for n in range(2)]
    return events


def admission(patient_id: str) -> PatientAdmitted:
    return PatientAdmitted(patient_id=patient_id, site_id="bench-site", program_id="iop",
                           start_date=TODAY, days_per_week=4, planned_weeks=10,
                           clinician_id="clin-7", baseline_phq9=18)


async def fill(dsn: str, patients: int) -> int:
    """Family's store and inbox for ``patients`` patients (its tables are left empty: the
    rebuild writes them); how many events in all."""
    conn = await connect(dsn)
    try:
        for first in range(0, patients, 200):
            consumed = []
            async with conn.transaction():
                for _ in range(first, min(first + 200, patients)):
                    patient_id = str(uuid.uuid4())
                    circle = circle_of(patient_id)
                    await FAMILY.append(conn, circle.stream_id, 0, circle.pending, CAUSE)
                    for offset, (source, event) in enumerate(consumed_events(patient_id)):
                        envelope = source.envelopes(f"p-{patient_id}", offset, [event], CAUSE)[0]
                        consumed.append((envelope.id, source.topic, 0, offset, envelope.type,
                                         envelope.model_dump(mode="json")))
                await conn.executemany(
                    "INSERT INTO applied_events (event_id, topic, partition, \"offset\","
                    " event_type, envelope) VALUES ($1, $2, $3, $4, $5, $6)", consumed)
        own = await conn.fetchval("SELECT count(*) FROM events")
        inbox = await conn.fetchval("SELECT count(*) FROM applied_events")
        return int(own + inbox)
    finally:
        await conn.close()


async def measure_rebuild(dsn: str, patients: int) -> str:
    started = time.perf_counter()
    total = await fill(dsn, patients)
    print(f"  filled with {total:,} events in {time.perf_counter() - started:.0f} s", flush=True)
    return await measure_rebuild_of(dsn)


async def measure_rebuild_of(dsn: str) -> str:
    """A rebuild of a database ``fill`` filled (a rebuild changes only derived tables, so
    two checkouts can take turns on one database: ``--keep``, then ``--rebuild-of``)."""
    conn = await connect(dsn)
    try:
        total = int(await conn.fetchval("SELECT (SELECT count(*) FROM events)"
                                        " + (SELECT count(*) FROM applied_events)"))
    finally:
        await conn.close()
    projected: list[float] = []  # when each page was projected (and its writes sent)
    async with BackendCpu(dsn) as postgres_cpu:
        started, cpu = time.perf_counter(), time.process_time()
        outcome = await rebuild(dsn, spec_of("family").rebuild_sources(),
                                on_progress=lambda _: projected.append(time.perf_counter()))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert outcome.progress.done == total
    server = (f", {postgres_cpu.seconds / total * 1e6:.0f} µs of its Postgres backends'"
              if postgres_cpu.seconds else "")
    return (f"rebuild family: {total:,} events ({describe(outcome.progress)}) in {seconds:.1f} s"
            f" = {total / seconds:,.0f} events/s (the last page projected after"
            f" {projected[-1] - started:.1f} s; then the last writes, the catch-up, the"
            f" comparison and the swap); {cpu / total * 1e6:.0f} µs of this process's CPU"
            f" an event{server}")


class BackendCpu:
    """The CPU time the Postgres backends of one database spent meanwhile, read from
    ``/proc`` while they live (so only for a Postgres on this machine; 0 otherwise): it
    says whether Postgres has a core to spare for more writers. A backend's last
    ``INTERVAL`` before it ends is not seen."""

    INTERVAL = 0.1

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._first: dict[int, int] = {}
        self._last: dict[int, int] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def seconds(self) -> float:
        ticks = sum(last - self._first.get(pid, 0) for pid, last in self._last.items())
        return ticks / os.sysconf("SC_CLK_TCK")

    async def __aenter__(self) -> BackendCpu:
        conn = await connect(self._dsn)
        await self._sample(conn)
        self._first = dict(self._last)
        self._task = asyncio.create_task(self._follow(conn))
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _follow(self, conn: Connection) -> None:
        try:
            while True:
                await asyncio.sleep(self.INTERVAL)
                await self._sample(conn)
        finally:
            await conn.close()

    async def _sample(self, conn: Connection) -> None:
        pids = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname ="
                                " current_database() AND pid <> pg_backend_pid()")
        for row in pids:
            if (ticks := _cpu_ticks(row["pid"])) is not None:
                self._last[row["pid"]] = ticks


def _cpu_ticks(pid: int) -> int | None:
    """A process's user + system time, in clock ticks (a read of /proc: no I/O to wait on)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # ended, or not on this machine
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


async def dead_letter_admissions(conn: Connection, count: int) -> None:
    """``count`` admissions family could not apply, each with a later record parked."""
    async with conn.transaction():
        for n in range(count):
            patient_id = str(uuid.uuid4())
            first, later = INTAKE.envelopes(f"patient-{patient_id}", 0, [
                admission(patient_id), admission(patient_id)], CAUSE)
            letters = [_letter(envelope, 2 * n + i) for i, envelope in enumerate((first, later))]
            dead = await store(conn, letters[0], RuntimeError("a projection bug, since fixed"))
            await park(conn, letters[1], dead)


def _letter(envelope: object, offset: int) -> Letter:
    kafka = to_record(envelope)  # type: ignore[arg-type]
    return Letter(topic_of("intake"), 0, offset, kafka.key.decode(),
                  {k: v.decode() for k, v in kafka.headers}, kafka.value)


async def measure_redrive(dsn: str, count: int) -> str:
    conn = await connect(dsn)
    try:
        await dead_letter_admissions(conn, count)
        projection = spec_of("family").consumer_projection()
        assert projection is not None
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM dead_letters ORDER BY id")]
        started, cpu = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):  # not a line per dead letter
            done = await resolve_all(conn, Resolver(projection, check_provenance), ids,
                                     by="bench", reason=None)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        released = sum(r.released for r in done)
        assert released == count and await conn.fetchval(
            "SELECT count(*) FROM dead_letters WHERE resolution = 'redriven'") == count
        return (f"redrive: {count:,} dead letters (+{released:,} parked released) in"
                f" {seconds:.1f} s = {count / seconds:,.0f} dead letters/s;"
                f" {cpu / count * 1e3:.1f} ms of this process's CPU each")
    finally:
        await conn.close()


async def main(admin_dsn: str, patients: int, dead_letters: int,
               only: str | None = None, keep: bool = False) -> None:
    run = uuid.uuid4().hex[:6]
    results = []
    for name, measure, size in (("rebuild", measure_rebuild, patients),
                                ("redrive", measure_redrive, dead_letters)):
        if only not in (None, name):
            continue
        database = f"bench_streams_{name}_{run}"
        began = time.perf_counter()
        dsn = await recreate_database(admin_dsn, database)
        try:
            await spec_of("family").migrate(dsn)
            print(f"  database ready after {time.perf_counter() - began:.0f} s", flush=True)
            print(f"measuring {name} ...", flush=True)
            before = os.getloadavg()[0]
            result = await measure(dsn, size)
            # The machine is shared: what else ran says how far the number is a floor.
            results.append(f"{result} (load average {before:.1f} before,"
                           f" {os.getloadavg()[0]:.1f} after)")
        finally:
            if keep and name == "rebuild":
                print(f"  kept: {dsn}", flush=True)
            else:
                await drop_database(admin_dsn, database)
    print()
    for line in results:
        print(line)


async def rebuild_again(dsn: str) -> None:
    before = os.getloadavg()[0]
    result = await measure_rebuild_of(dsn)
    print(f"{result} (load average {before:.1f} before, {os.getloadavg()[0]:.1f} after)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-admin-dsn", default=os.environ.get("IOPNET_BENCH_PG_DSN")
                        or postgres.admin_dsn())
    parser.add_argument("--patients", type=int, default=6000,
                        help="family patients for the rebuild (about 19 events each)")
    parser.add_argument("--dead-letters", type=int, default=1000)
    parser.add_argument("--only", choices=["rebuild", "redrive"],
                        help="one measure (to profile it, say)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the rebuild's database (and print its DSN)")
    parser.add_argument("--rebuild-of", metavar="DSN",
                        help="only rebuild this database, kept by --keep, again")
    args = parser.parse_args()
    if args.rebuild_of:
        asyncio.run(rebuild_again(args.rebuild_of))
    else:
        asyncio.run(main(args.pg_admin_dsn, args.patients, args.dead_letters, args.only,
                         args.keep))
