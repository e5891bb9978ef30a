"""What one ``EventStore.append`` costs, alone: this process's CPU, its Postgres backend's
CPU and the wall time an append, each in a transaction of its own as a request's is.

``python -m bench.append [--appends N] [--pg-admin-dsn DSN]`` on a fresh database of
the shared schema (dropped afterwards): N appends of one published event to new
streams, then N to those streams again. Run it from two checkouts in turn
(``PYTHONPATH=<checkout>:<checkout>/shared``) to compare two event stores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from datetime import date
from pathlib import Path

from iopctl import postgres
from iopctl.pgsql import drop_database, recreate_database
from iopnet.catalog import PatientReferred, ReferralSource
from iopnet.db import Connection, connect
from iopnet.eventstore import Cause, EventStore
from iopnet.migrate import apply_migrations

STORE = EventStore(source="/iopnet/bench", topic="iopnet.bench.events")
CAUSE = Cause("bench", "bench")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process on this machine (the Postgres backend's too)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def referred(patient_id: str) -> PatientReferred:
    return PatientReferred(patient_id=patient_id, site_id="bench-site", referral_id="r-1",
                           source=ReferralSource.SELF, referred_on=date(2026, 11, 25))


async def appends(conn: Connection, backend: int, patients: list[str], version: int
                  ) -> str:
    cpu, server, began = time.process_time(), cpu_seconds(backend), time.perf_counter()
    for patient in patients:
        async with conn.transaction():
            await STORE.append(conn, f"patient-{patient}", version, [referred(patient)], CAUSE)
    n = len(patients)
    return (f"client CPU {(time.process_time() - cpu) / n * 1e6:.0f} µs, Postgres backend"
            f" CPU {(cpu_seconds(backend) - server) / n * 1e6:.0f} µs, wall"
            f" {(time.perf_counter() - began) / n * 1e6:.0f} µs an append")


async def main(admin_dsn: str, count: int) -> None:
    database = f"bench_append_{uuid.uuid4().hex[:6]}"
    dsn = await recreate_database(admin_dsn, database)
    try:
        await apply_migrations(dsn, [])
        conn = await connect(dsn)
        try:
            backend = await conn.fetchval("SELECT pg_backend_pid()")
            await appends(conn, backend, [str(uuid.uuid4()) for _ in range(50)], 0)  # warm
            patients = [str(uuid.uuid4()) for _ in range(count)]
            print(f"load average {os.getloadavg()[0]:.1f}")
            print("to a new stream:     ", await appends(conn, backend, patients, 0))
            print("to an existing one:  ", await appends(conn, backend, patients, 1))
        finally:
            await conn.close()
    finally:
        await drop_database(admin_dsn, database)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pg-admin-dsn", default=os.environ.get("IOPNET_BENCH_PG_DSN")
                        or postgres.admin_dsn())
    parser.add_argument("--appends", type=int, default=1500)
    args = parser.parse_args()
    asyncio.run(main(args.pg_admin_dsn, args.appends))
