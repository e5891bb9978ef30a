"""``make bench``: the running system measured end to end, on the real Postgres and Kafka.

Starts the five services exactly as ``make up`` does (fresh bench databases,
its own consumer groups), then measures:

- admission throughput and latency through the public API (refer, two
  assessments, admit: four requests a patient), at a fixed concurrency;
- propagation: from the admission's answer to the patient being visible in
  sessions, plans, family and notifications;
- key revocation: from the revoke call to refusal in all five services;
- each process's resident memory at the end.

Prints a Markdown table; docs/benchmarks.md keeps the results with the command.
"""

from __future__ import annotations

import os
import uuid

# Before anything computes a topic name: the bench's events stay in topics of
# their own, away from a `make up` system on the same broker.
os.environ.setdefault("IOPNET_TOPIC_NAMESPACE", f"bench{uuid.uuid4().hex[:6]}")

import argparse
import asyncio
import functools
import statistics
import time
from collections.abc import Awaitable, Callable

import httpx

from iopctl import infra
from iopctl.kafka_admin import ensure_topics
from iopctl.pgsql import drop_database, recreate_database
from iopctl.proc import proc_dir
from iopctl.stack import Stack
from iopnet.auth.keys import new_key
from iopnet.topics import SERVICES
from tests.e2e.client import SITE_SCOPES, Api
from tests.e2e.journeys import admit
from tests.fixtures.kafka import drop_topics

CONSUMERS = ("plans", "sessions", "family", "notifications")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 30) -> float:
    started = time.perf_counter()
    while not await check():
        if time.perf_counter() - started > timeout:
            raise TimeoutError("not reached")
        await asyncio.sleep(0.005)
    return time.perf_counter() - started


async def admissions(api: Api, patients: int, concurrency: int) -> tuple[float, list[float]]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one() -> None:
        async with gate:
            started = time.perf_counter()
            await admit(api)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(patients)))
    return patients / (time.perf_counter() - started), latencies


async def propagation(api: Api, samples: int) -> list[float]:
    seconds = []
    for _ in range(samples):
        patient_id = await admit(api)

        async def visible(pid: str = patient_id) -> bool:
            answers = await asyncio.gather(*(api.get(s, f"/v1/patients/{pid}")
                                             for s in CONSUMERS))
            return all(a.status_code == 200 for a in answers)

        seconds.append(await until(visible))
    return seconds


async def revocation(operator: Api, site_id: str, samples: int) -> list[float]:
    seconds = []
    for _ in range(samples):
        issued = await operator.issue_key(site_id)
        key = operator.with_key(issued["api_key"])
        await until(functools.partial(_everywhere, key, 404))
        await operator.post("intake", f"/v1/network/keys/{issued['key_id']}/revoke")
        started = time.perf_counter()
        await until(functools.partial(_everywhere, key, 401))
        seconds.append(time.perf_counter() - started)
    return seconds


async def _everywhere(api: Api, status: int) -> bool:
    answers = await asyncio.gather(*(api.get(s, f"/v1/patients/{uuid.uuid4()}")
                                     for s in SERVICES))
    return all(a.status_code == status for a in answers)


def resident_mib(pid: int) -> float:
    folder = proc_dir(pid)
    if folder is None:
        return 0.0
    for line in (folder / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def row(name: str, values: list[float], unit: str = "ms", scale: float = 1000) -> str:
    return (f"| {name} | {len(values)} | {statistics.median(values) * scale:.1f} {unit} "
            f"| {percentile(values, 0.95) * scale:.1f} {unit} | {max(values) * scale:.1f} {unit} |")


async def main(patients: int, concurrency: int, samples: int) -> None:
    endpoints = await infra.up()
    run = uuid.uuid4().hex[:6]
    databases = {s: await recreate_database(endpoints.pg_admin_dsn, f"bench_{s}_{run}")
                 for s in SERVICES}
    stack = Stack(database_url=databases, kafka_bootstrap=endpoints.kafka_bootstrap,
                  operator_key=new_key().plaintext, consumer_group_suffix=f"-bench-{run}",
                  ports={s: 18000 + n for n, s in enumerate(SERVICES, start=1)})
    await ensure_topics(endpoints.kafka_bootstrap)
    await stack.migrate()
    stack.start()
    try:
        await stack.wait_ready()
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64)
                                     ) as http:
            operator = Api(stack, http, stack.operator_key)
            await operator.onboard("bench-site")
            issued = await operator.issue_key("bench-site", SITE_SCOPES,
                                              rate_limit_per_minute=100_000)
            site = operator.with_key(issued["api_key"])
            await until(lambda: _everywhere(site, 404))
            print(f"admitting {patients} patients, {concurrency} at a time ...", flush=True)
            rate, latencies = await admissions(site, patients, concurrency)
            print(f"measuring propagation ({samples} samples) ...", flush=True)
            spread = await propagation(site, samples)
            print(f"measuring revocation ({samples} samples) ...", flush=True)
            revoked = await revocation(operator, "bench-site", samples)
        memory = {name: resident_mib(p.pid) for name, p in stack.processes.items()}
    finally:
        stack.stop()
        for service in SERVICES:
            await drop_database(endpoints.pg_admin_dsn, f"bench_{service}_{run}")
        await drop_topics(endpoints.kafka_bootstrap)

    print(f"\nadmissions: {rate:.1f} patients/s ({rate * 4:.0f} requests/s) "
          f"at concurrency {concurrency}\n")
    print("| measure | n | median | p95 | max |\n|---|---|---|---|---|")
    print(row("admission (4 requests)", latencies))
    print(row("admitted → visible in 4 services", spread))
    print(row("revoked → refused in 5 services", revoked))
    print("\n| process | RSS |\n|---|---|")
    for name, mib in sorted(memory.items()):
        print(f"| {name} | {mib:.0f} MiB |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.patients, args.concurrency, args.samples))
