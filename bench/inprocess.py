"""What a request costs around intake's commands, steadier than a loaded machine lets the
bench say: intake's app in this process behind httpx's ASGI transport (no server, no
other services), this process's CPU a request.

``python -m bench.inprocess [--requests N] [--concurrency C] [--pg-admin-dsn DSN]`` on a
fresh database (dropped afterwards): a site and a key, 50 referrals to warm up, then N
referrals, a PHQ-9 for each and a read of each. The client's share is in the figure;
it is the same code on both sides of a comparison, so run it from two checkouts in turn.
``--calls`` counts Python function calls a request under cProfile instead: a figure no
load moves.
"""

from __future__ import annotations

import os
import uuid

os.environ.setdefault("IOPNET_TOPIC_NAMESPACE", f"benchinproc{uuid.uuid4().hex[:6]}")

import argparse
import asyncio
import cProfile
import pstats
import time
from collections.abc import Awaitable, Callable, Sequence

import httpx
import uvloop

from iopctl import postgres
from iopctl.pgsql import drop_database, recreate_database
from iopnet.app import create_app
from iopnet.auth.guard import OPERATOR_KEY_ENV
from iopnet.auth.keys import new_key
from services.intake.service import SPEC
from services.intake.settings import IntakeSettings
from tests.e2e.journeys import ADA, SEVERE_NO_ITEM9

Send = Callable[[], Awaitable[httpx.Response]]


async def measure(label: str, sends: Sequence[Send], concurrency: int, calls: bool
                  ) -> list[httpx.Response]:
    gate = asyncio.Semaphore(concurrency)

    async def one(send: Send) -> httpx.Response:
        async with gate:
            answer = await send()
        assert answer.status_code in (200, 201), answer.text
        return answer

    profiler = cProfile.Profile() if calls else None
    if profiler is not None:
        profiler.enable()
    cpu, wall = time.process_time(), time.perf_counter()
    answers = await asyncio.gather(*(one(send) for send in sends))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if profiler is not None:
        profiler.disable()
        counted = pstats.Stats(profiler).total_calls  # type: ignore[attr-defined]
        print(f"{label}: {counted / len(sends):.0f} function calls a request", flush=True)
    else:
        print(f"{label}: {len(sends)} requests, {1000 * cpu / len(sends):.2f} ms CPU a request,"
              f" {len(sends) / wall:.0f}/s", flush=True)
    return answers


async def main(options: argparse.Namespace) -> None:
    name = f"bench_inprocess_{uuid.uuid4().hex[:6]}"
    dsn = await recreate_database(options.pg_admin_dsn, name)
    operator_key = new_key().plaintext
    os.environ[OPERATOR_KEY_ENV] = operator_key
    try:
        await SPEC.migrate(dsn)
        app = create_app(SPEC, IntakeSettings(database_url=dsn, kafka_bootstrap="unused:9092"))
        transport = httpx.ASGITransport(app=app)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=transport, base_url="http://intake",
                headers={"Authorization": f"Bearer {operator_key}"}) as operator:
            onboarded = await operator.post("/v1/network/sites", json={
                "site_id": "bench-site", "name": "Bench", "time_zone": "America/Chicago"})
            assert onboarded.status_code == 201, onboarded.text
            issued = await operator.post("/v1/network/sites/bench-site/keys", json={
                "scopes": ["read", "intake:write"], "rate_limit_per_minute": 100_000})
            key = issued.json()["api_key"]
            async with httpx.AsyncClient(transport=transport, base_url="http://intake",
                                         headers={"Authorization": f"Bearer {key}"}) as site:
                await requests(site, options)
    finally:
        await drop_database(options.pg_admin_dsn, name)


async def requests(site: httpx.AsyncClient, options: argparse.Namespace) -> None:
    referral = {"source": "provider", "patient": ADA}

    def refer() -> Awaitable[httpx.Response]:
        return site.post("/v1/referrals", json=referral)

    await measure("warm-up", [refer] * 50, options.concurrency, False)
    n, c, calls = options.requests, options.concurrency, options.calls
    referred = await measure("referral", [refer] * n, c, calls)
    paths = [f"/v1/patients/{answer.json()['patient_id']}" for answer in referred]
    phq9 = {"instrument": "phq9", "items": SEVERE_NO_ITEM9}
    await measure("assessment", [
        lambda path=path: site.post(f"{path}/assessments", json=phq9)  # type: ignore[misc]
        for path in paths], c, calls)
    await measure("read", [lambda path=path: site.get(path)  # type: ignore[misc]
                           for path in paths], c, calls)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--calls", action="store_true",
                        help="count Python function calls a request (cProfile)")
    parser.add_argument("--pg-admin-dsn", default=os.environ.get("IOPNET_BENCH_PG_DSN")
                        or postgres.admin_dsn())
    return parser.parse_args(argv)


if __name__ == "__main__":
    uvloop.run(main(parse()))
