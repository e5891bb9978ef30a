"""``iopctl events verify [--repair]`` on the five services' databases, as an operator runs it."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import date

import asyncpg
import pytest

from iopctl.cli import main
from iopctl.stack import spec_of
from iopnet.catalog import PatientReferred, ReferralSource, SiteOnboarded, SitePolicies
from iopnet.db import connect
from iopnet.eventstore import Cause, EventStore
from iopnet.topics import SERVICES, network_topic, topic_of
from tests.conftest import FreshDatabase

pytestmark = pytest.mark.integration

CONSUMERS = ("plans", "sessions", "family", "notifications")


async def service_databases(fresh_empty_database: FreshDatabase) -> dict[str, str]:
    dsns = {}
    for service in SERVICES:
        dsns[service] = await fresh_empty_database(f"verify_{service}")
        await spec_of(service).migrate(dsns[service])
    return dsns


async def published_by_intake(dsn: str, site_id: str) -> list[str]:
    """A site onboarded and a patient referred, out of intake's outbox as if published."""
    store, cause = EventStore.of("intake"), Cause("verify", "verify")
    conn = await connect(dsn)
    try:
        site = await store.append(conn, f"site-{site_id}", 0, [SiteOnboarded(
            site_id=site_id, name="North", time_zone="America/Chicago",
            policies=SitePolicies())], cause, topic=network_topic())
        patient_id = str(uuid.uuid4())
        referral = await store.append(conn, f"patient-{patient_id}", 0, [PatientReferred(
            patient_id=patient_id, site_id=site_id, referral_id="r-1",
            source=ReferralSource.PROVIDER, referred_on=date(2026, 11, 2))], cause)
        await conn.execute("DELETE FROM outbox")
    finally:
        await conn.close()
    return [site[0].id, referral[0].id]


class Verify:
    """Runs ``iopctl events verify`` on the services' databases, as a shell would."""

    def __init__(self, dsns: dict[str, str], output: pytest.CaptureFixture[str]) -> None:
        self.databases = [f"--database={service}={dsn}" for service, dsn in dsns.items()]
        self.output = output

    async def __call__(self, *options: str) -> tuple[int, dict[tuple[str, str], int], str]:
        """Exit code, missing count per (consumer, topic), and what the command printed."""
        self.output.readouterr()
        # In a thread: the command runs its own event loop, as from a shell.
        code = await asyncio.to_thread(main, ["events", "verify", *self.databases, *options])
        printed = self.output.readouterr().out
        missing = {(found[1], found[2]): int(found[3]) for found in re.finditer(
            r"^(\w+)\s+(\S+)\s+\d+ published\s+(\d+) missing", printed, re.M)}
        return code, missing, printed


async def count(dsn: str, query: str, *args: object) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(query, *args))
    finally:
        await conn.close()


async def execute(dsn: str, statement: str, *args: object) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement, *args)
    finally:
        await conn.close()


async def test_verify_reports_what_consumers_lack_and_repair_applies_it(
    fresh_empty_database: FreshDatabase, capsys: pytest.CaptureFixture[str],
) -> None:
    dsns = await service_databases(fresh_empty_database)
    verify = Verify(dsns, capsys)
    site_id = f"site-{uuid.uuid4().hex[:6]}"
    site_event, referral_event = await published_by_intake(dsns["intake"], site_id)

    code, missing, output = await verify()
    assert code == 1
    for consumer in CONSUMERS:
        assert missing[consumer, network_topic()] == 1
        assert missing[consumer, topic_of("intake")] == 1
    assert site_event in output and referral_event in output

    code, _, output = await verify("--repair")
    assert code == 0, output
    for consumer in CONSUMERS:
        assert await count(dsns[consumer], "SELECT count(*) FROM sites WHERE site_id = $1",
                           site_id) == 1
        assert await count(dsns[consumer], "SELECT count(*) FROM applied_events") == 2
    assert await count(dsns["notifications"], "SELECT count(*) FROM patients") == 1
    assert (await verify())[0] == 0

    # As a lost transaction would leave it: neither in the inbox nor projected.
    await execute(dsns["sessions"], "DELETE FROM applied_events WHERE event_id = $1",
                  uuid.UUID(site_event))
    await execute(dsns["sessions"], "DELETE FROM sites WHERE site_id = $1", site_id)
    code, missing, output = await verify()
    assert code == 1
    assert {key for key, n in missing.items() if n} == {("sessions", network_topic())}
    assert site_event in output
    assert (await verify("--repair"))[0] == 0
    assert await count(dsns["sessions"], "SELECT count(*) FROM sites WHERE site_id = $1",
                       site_id) == 1
    assert (await verify())[0] == 0
