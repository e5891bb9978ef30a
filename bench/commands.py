"""What intake's write commands cost without HTTP: this process's CPU, its Postgres
backend's CPU and the wall time a command, each in a transaction of its own as a
request's is (no role, no key, no audit: the command's own statements and Python).

``python -m bench.commands [--patients N] [--pg-admin-dsn DSN]`` on a fresh intake
database (dropped afterwards): N patients referred, assessed twice (PHQ-9, C-SSRS) and
admitted with a certification. Run it from two checkouts in turn (each one's venv) to
compare them; on a shared machine, alternate.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from bench.append import cpu_seconds
from iopctl import postgres
from iopctl.pgsql import drop_database, recreate_database
from iopnet.catalog import Instrument, ReferralSource, SitePolicies
from iopnet.db import Connection, connect
from iopnet.eventstore import Cause, EventStore
from iopnet.unit_of_work import UnitOfWork
from services.intake import commands
from services.intake.domain import Admission, Identity, Responses, Scored
from services.intake.service import SPEC
from tests.e2e.journeys import NO_RISK
from tests.fixtures.dates import program_start

EVENTS = EventStore.of("intake")
SITE = "bench-site"
PHQ9 = Scored.of(Responses(Instrument.PHQ9, [2] * 8 + [0], None, None))
CSSRS = Scored.of(Responses(Instrument.CSSRS, None, NO_RISK, None))
WHO = Identity(given_name="Ada", family_name="Example", birth_date=date(1990, 4, 2))


class Timed:
    """Each kind of command's CPU (here and in the backend) and wall time, summed."""

    def __init__(self, conn: Connection, backend: int) -> None:
        self.conn, self.backend = conn, backend
        self.sums: dict[str, list[float]] = {}
        self.counts: dict[str, int] = {}

    def uow(self) -> UnitOfWork:
        return commands.unit_of_work(self.conn, EVENTS, Cause(str(uuid.uuid4()),
                                                              str(uuid.uuid4())))

    async def run(self, kind: str, command: Callable[[], Awaitable[Any]]) -> Any:
        cpu, server, began = time.process_time(), cpu_seconds(self.backend), time.perf_counter()
        async with self.conn.transaction():
            result = await command()
        sums = self.sums.setdefault(kind, [0.0, 0.0, 0.0])
        sums[0] += time.process_time() - cpu
        sums[1] += cpu_seconds(self.backend) - server
        sums[2] += time.perf_counter() - began
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return result

    def report(self) -> str:
        return "\n".join(
            f"{kind}: client CPU {s[0] / n * 1e6:.0f} µs, Postgres backend CPU"
            f" {s[1] / n * 1e6:.0f} µs, wall {s[2] / n * 1e3:.2f} ms a command ({n})"
            for kind, s in self.sums.items() for n in [self.counts[kind]])


async def patients_through(conn: Connection, patients: int) -> Timed:
    timed = Timed(conn, await conn.fetchval("SELECT pg_backend_pid()"))
    async with conn.transaction():
        await commands.onboard_site(timed.uow(), SITE, "Bench", "America/Chicago",
                                    SitePolicies())
    admission = Admission(program_id="iop-adult", start_date=program_start(),
                          days_per_week=4, planned_weeks=10, clinician_id="clin-7")
    certified = commands.CertificationOrder("dr-rao", ["F33.1"])
    for _ in range(patients):
        case = await timed.run("referral", lambda: commands.refer(
            timed.uow(), SITE, ReferralSource.PROVIDER, None, WHO))
        for scored in (PHQ9, CSSRS):
            await timed.run("assessment", lambda: commands.record_assessment(
                timed.uow(), case.id, scored, None, None))  # noqa: B023
        await timed.run("admission", lambda: commands.admit(
            timed.uow(), case.id, admission, None, None, certified))  # noqa: B023
    return timed


async def main(admin_dsn: str, patients: int) -> None:
    database = f"bench_commands_{uuid.uuid4().hex[:6]}"
    dsn = await recreate_database(admin_dsn, database)
    try:
        await SPEC.migrate(dsn)
        conn = await connect(dsn)
        try:
            timed = await patients_through(conn, patients)
        finally:
            await conn.close()
    finally:
        await drop_database(admin_dsn, database)
    print(timed.report(), f"load average {os.getloadavg()[0]:.1f}", sep="\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--pg-admin-dsn", default=os.environ.get("IOPNET_BENCH_PG_DSN")
                        or postgres.admin_dsn())
    options = parser.parse_args()
    asyncio.run(main(options.pg_admin_dsn, options.patients))
