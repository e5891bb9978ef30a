"""Issue 9's "done when": admissions under load while the consumers' Postgres is crashed
and restarted several times and the broker is SIGKILLed and restarted.

Everything is the test's own: a Postgres cluster for intake (the producer, kept up
so the load goes on), another for the four consumers (crashed with ``pg_ctl stop -m
immediate``), a Kafka broker, and the five services as ``make up`` starts them. In
the end every admitted patient is visible in every service, no valid event is
dead-lettered, every published event is in each consumer's inbox once, and the
converted services' tables are what a rebuild from their events gives (an event
projected twice would show there).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from iopctl import pgsql, postgres
from iopctl.events import Feed, service_feeds, verify_feed
from iopctl.postgres import Cluster
from iopctl.stack import Stack, spec_of
from iopnet.auth.keys import new_key
from iopnet.db import connect
from iopnet.rebuild import rebuild
from iopnet.topics import SERVICES
from tests.conftest import eventually, free_port
from tests.e2e.client import Api
from tests.e2e.journeys import NO_RISK, SEVERE_NO_ITEM9, known_everywhere
from tests.fixtures.dates import program_start
from tests.fixtures.own_infra import OwnBroker, own_broker, own_cluster

pytestmark = pytest.mark.integration

CONSUMERS = ("plans", "sessions", "family", "notifications")
PATIENTS = 40  # at least, however short the disorder
MOST_PATIENTS = 150  # at most, however long (a loaded machine restarts a broker slowly)
CONCURRENCY = 3
PACE = 0.3  # seconds between one worker's admissions
POSTGRES_CRASHES = 3
BROKER_KILLS = 1


@pytest.fixture
async def broker() -> AsyncIterator[OwnBroker]:
    async with own_broker() as own:
        yield own


@contextlib.asynccontextmanager
async def running_stack(intake: Cluster, consumers: Cluster, broker: OwnBroker,
                        logs: Path) -> AsyncIterator[Stack]:
    cluster_of = {s: intake if s == "intake" else consumers for s in SERVICES}
    databases = {s: await pgsql.restricted_database(cluster_of[s].dsn("postgres"), s)
                 for s in SERVICES}  # as in production: the owner migrates, a login runs
    stack = Stack.restricted(databases, kafka_bootstrap=broker.bootstrap,
                             operator_key=new_key().plaintext,
                             ports={s: free_port() for s in SERVICES}, log_dir=logs)
    await stack.migrate()
    stack.start()
    try:
        await stack.wait_ready(timeout=120)
        yield stack
    finally:
        stack.stop()


async def until_answered(call: Callable[[], Awaitable[httpx.Response]], *ok: int
                         ) -> httpx.Response:
    """A request again and again until it is answered with one of ``ok``."""
    async with asyncio.timeout(60):
        while True:
            with contextlib.suppress(httpx.HTTPError):
                answer = await call()
                if answer.status_code in ok:
                    return answer
            await asyncio.sleep(0.2)


async def admit(api: Api) -> str:
    """Refer, assess and admit; retried through outages (an admission repeated after a
    lost answer is a 409: it happened)."""
    referred = await until_answered(lambda: api.post("intake", "/v1/referrals", json={
        "source": "provider", "patient": {"given_name": "Ada", "family_name": "Example",
                                          "birth_date": "1990-04-02"}}), 201)
    patient_id: str = referred.json()["patient_id"]
    path = f"/v1/patients/{patient_id}"
    await until_answered(lambda: api.post("intake", f"{path}/assessments", json={
        "instrument": "phq9", "items": SEVERE_NO_ITEM9}), 201)
    await until_answered(lambda: api.post("intake", f"{path}/assessments", json={
        "instrument": "cssrs", "answers": NO_RISK}), 201)
    await until_answered(lambda: api.post("intake", f"{path}/admission", json={
        "program_id": "iop-adult", "start_date": program_start().isoformat(),
        "days_per_week": 4, "planned_weeks": 10, "clinician_id": "clin-7"}), 201, 409)
    return patient_id


async def load(api: Api, disorder: asyncio.Task[list[str]]) -> list[str]:
    """Admissions, a few at a time, while the disorder lasts (PATIENTS to MOST_PATIENTS)."""
    admitted: list[str] = []

    async def worker() -> None:
        while len(admitted) < PATIENTS or (not disorder.done()
                                           and len(admitted) < MOST_PATIENTS):
            admitted.append(await admit(api))
            await asyncio.sleep(PACE)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return admitted


async def chaos(consumers: Cluster, broker: OwnBroker) -> list[str]:
    """Crash the consumers' Postgres every couple of seconds; kill the broker twice."""
    done: list[str] = []
    for round_ in range(POSTGRES_CRASHES):
        await asyncio.sleep(2.0)
        await postgres.stop(consumers, mode="immediate")
        await asyncio.sleep(0.5)
        await postgres.start(consumers)
        done.append("postgres")
        if round_ < BROKER_KILLS:
            await asyncio.sleep(1.0)
            broker.kill()
            await asyncio.sleep(2.0)
            await broker.start()
            done.append("broker")
    return done


async def visible_everywhere(api: Api, patients: list[str]) -> bool:
    for patient_id in patients:
        for service in CONSUMERS:
            with contextlib.suppress(httpx.HTTPError):
                if (await api.get(service, f"/v1/patients/{patient_id}")).status_code == 200:
                    continue
            return False
    return True


async def test_admissions_survive_postgres_crashes_and_a_killed_broker(
    broker: OwnBroker, tmp_path: Path,
) -> None:
    started = time.monotonic()
    async with own_cluster() as intake_cluster, own_cluster() as consumer_cluster, \
            running_stack(intake_cluster, consumer_cluster, broker, tmp_path) as stack, \
            httpx.AsyncClient(timeout=10) as http:
        operator = Api(stack, http, stack.operator_key)
        await operator.onboard("site-chaos")
        api = operator.with_key((await operator.issue_key("site-chaos"))["api_key"])
        await known_everywhere(api, timeout=60)
        print(f"\nsystem up after {time.monotonic() - started:.0f} s", flush=True)

        disorder = asyncio.create_task(chaos(consumer_cluster, broker))
        patients = await load(api, disorder)
        print(f"load and disorder over after {time.monotonic() - started:.0f} s", flush=True)
        assert await disorder == ["postgres", "broker"] * BROKER_KILLS + ["postgres"] * (
            POSTGRES_CRASHES - BROKER_KILLS)
        await eventually(lambda: visible_everywhere(api, patients), timeout=90)
        print(f"\n{len(set(patients))} patients admitted and visible everywhere after "
              f"{POSTGRES_CRASHES} Postgres crashes and {BROKER_KILLS} broker kills,"
              f" {time.monotonic() - started:.0f} s")

        await expect_nothing_dead_lettered(stack)
        await expect_every_event_applied_once(stack)
        await expect_tables_as_rebuilt(stack)


async def expect_nothing_dead_lettered(stack: Stack) -> None:
    for service in CONSUMERS:
        conn = await connect(stack.migration_url[service])  # the owner reads every row
        try:
            assert await conn.fetchval("SELECT count(*) FROM dead_letters") == 0, service
            assert await conn.fetchval("SELECT count(*) FROM parked_records") == 0, service
        finally:
            await conn.close()


async def expect_every_event_applied_once(stack: Stack) -> None:
    """Each consumer's inbox holds every published event of the topics it reads: none
    missing (``iopctl events verify``); none twice, the inbox being keyed by event id."""
    async def complete(feed: Feed) -> bool:
        return not (await verify_feed(feed)).missing

    for feed in service_feeds(dict(stack.migration_url)):
        await eventually(functools.partial(complete, feed), timeout=30)


async def expect_tables_as_rebuilt(stack: Stack) -> None:
    """A projection applied twice would leave the live tables unlike their rebuild."""
    for service in SERVICES:
        spec = spec_of(service)
        if spec.project_own is None:
            continue
        outcome = await rebuild(stack.migration_url[service], spec.rebuild_sources(),
                                check_only=True)
        assert all(d == (0, 0) for d in outcome.differences.values()), (service,
                                                                       outcome.differences)
