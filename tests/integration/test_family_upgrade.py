"""A family database of the previous release (e079311) comes up with its facts as events:
circles, support persons' names (sealed) and family sessions' attendance, which that
release kept in tables only. Its reads and writes go on working, and its tables can be
rebuilt from the events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from iopctl.stack import spec_of
from iopnet.app import create_app
from iopnet.auth.keys import new_key
from iopnet.auth.registry import REGISTRY_PROJECTORS
from iopnet.catalog import (
    ApiKeyIssued,
    ConsentGranted,
    ConsentScope,
    DomainEvent,
    FamilySessionHeld,
    PatientEvent,
    Relationship,
    Scope,
    SupportPersonLinked,
    parse_event,
)
from iopnet.db import create_pool
from iopnet.eventstore import Cause, EventStore
from services.family.projections import project_circle
from services.family.service import SPEC
from services.family.settings import FamilySettings
from tests.conftest import FreshDatabase
from tests.fixtures import previous_release
from tests.fixtures.dates import SITE_TIME_ZONE, site_today

pytestmark = pytest.mark.integration

SITE = "site-north"
EVENTS = EventStore.of("family")
#: The tables the circle's own events project to.
OWN_TABLES = ("family_circles", "support_persons", "consents", "family_sessions",
              "family_session_attendance")


@pytest.fixture
async def previous(fresh_empty_database: FreshDatabase) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    dsn = await fresh_empty_database("upgrade_family_rows")
    await previous_release.build_database(dsn, "family")
    pool = await create_pool(dsn)
    yield dsn, pool
    await pool.close()


async def append_as_that_release(conn: asyncpg.Connection, patient_id: str,
                                 events: list[PatientEvent]) -> None:
    """Its event store: no published/topic columns, nothing sealed."""
    stream = f"family-{patient_id}"
    envelopes = EVENTS.envelopes(stream, 0, events, Cause("c", "c"))
    await conn.execute("INSERT INTO event_streams (stream_id, version) VALUES ($1, $2)",
                       stream, len(events))
    await conn.executemany(
        "INSERT INTO events (event_id, stream_id, stream_version, event_type, envelope)"
        " VALUES ($1, $2, $3, $4, $5)",
        [(e.id, stream, e.streamversion, e.type, e.model_dump(mode="json")) for e in envelopes])


async def write_as_that_release(conn: asyncpg.Connection) -> dict[str, str]:
    """A circle with a named support person, a consent and a family session, written as
    e079311's consumer, routes and store did; and a circle with nothing in it yet."""
    ids = {name: str(uuid.uuid4()) for name in ("patient", "empty", "person", "consent",
                                                 "session")}
    today = site_today()
    await conn.execute("INSERT INTO sites (site_id, name, time_zone, policies)"
                       " VALUES ($1, $1, $2, '{}')", SITE, SITE_TIME_ZONE)
    for patient in (ids["patient"], ids["empty"]):
        await conn.execute(
            "INSERT INTO family_circles (patient_id, site_id, admitted_on, baseline_phq9)"
            " VALUES ($1, $2, $3, 18)", patient, SITE, today)
        await conn.execute("INSERT INTO care_status (patient_id, site_id, status, since)"
                           " VALUES ($1, $2, 'in_program', $3)", patient, SITE, today)
    await append_as_that_release(conn, ids["patient"], [
        SupportPersonLinked(site_id=SITE, patient_id=ids["patient"],
                            support_person_id=ids["person"], relationship=Relationship.PARENT),
        ConsentGranted(site_id=SITE, patient_id=ids["patient"], consent_id=ids["consent"],
                       support_person_id=ids["person"], scope=ConsentScope.SCHEDULE,
                       covers=[ConsentScope.SCHEDULE]),
        FamilySessionHeld(site_id=SITE, patient_id=ids["patient"],
                          family_session_id=ids["session"], kind="family_therapy",
                          held_on=today, support_persons_present=1),
    ])
    await conn.execute(
        "INSERT INTO support_persons (support_person_id, patient_id, site_id, relationship,"
        " given_name, family_name) VALUES ($1, $2, $3, 'parent', 'Grace', 'Example')",
        ids["person"], ids["patient"], SITE)
    await conn.execute(
        "INSERT INTO consents (consent_id, patient_id, site_id, support_person_id, scope,"
        " expires_on, granted_at) VALUES ($1, $2, $3, $4, 'schedule', NULL, now())",
        ids["consent"], ids["patient"], SITE, ids["person"])
    await conn.execute(
        "INSERT INTO family_sessions (family_session_id, patient_id, site_id, kind, held_on,"
        " clinician_id) VALUES ($1, $2, $3, 'family_therapy', $4, 'clin-7')",
        ids["session"], ids["patient"], SITE, today)
    await conn.execute(
        "INSERT INTO family_session_attendance (family_session_id, support_person_id,"
        " patient_id, site_id, attended) VALUES ($1, $2, $3, $4, true)",
        ids["session"], ids["person"], ids["patient"], SITE)
    return ids


async def test_the_previous_releases_rows_become_events_and_keep_working(
        previous: tuple[str, asyncpg.Pool]) -> None:
    dsn, pool = previous
    async with pool.acquire() as conn:
        ids = await write_as_that_release(conn)
    applied = await spec_of("family").migrate(dsn)
    assert "upgrade/family/circles_names_and_attendance" in applied
    assert "Grace" not in str(await pool.fetch("SELECT envelope FROM events"))  # sealed

    async with pool.acquire() as conn:
        stream = await EVENTS.read_stream(conn, f"family-{ids['patient']}")
        empty = await EVENTS.read_stream(conn, f"family-{ids['empty']}")
    assert [e.type.removeprefix("iopnet.") for e in stream] == [
        "SupportPersonLinked", "ConsentGranted", "FamilySessionHeld", "FamilyCircleOpened",
        "SupportPersonNamed", "FamilySessionRecorded"]
    assert [e.type for e in empty] == ["iopnet.FamilyCircleOpened"]
    named, recorded = stream[4].data, stream[5].data
    assert (named["given_name"], named["family_name"]) == ("Grace", "Example")
    assert recorded["clinician_id"] == "clin-7"
    assert recorded["attendance"] == [{"support_person_id": ids["person"], "attended": True}]
    assert not await pool.fetchval("SELECT count(*) FROM outbox")  # private: never published

    before = await own_rows(pool)
    await rebuild_own_tables(pool)
    assert await own_rows(pool) == before

    async with api_of(dsn, pool) as client:
        people = await client.get(f"/v1/patients/{ids['patient']}/support-persons")
        assert people.status_code == 200, people.text
        assert [(p["given_name"], p["sharing"]) for p in people.json()] == [
            ("Grace", ["schedule"])]
        linked = await client.post(f"/v1/patients/{ids['empty']}/support-persons", json={
            "relationship": "friend", "given_name": "Ada", "family_name": "Example"})
        assert linked.status_code == 201, linked.text


async def test_the_upgrade_does_nothing_on_a_new_database(
        fresh_empty_database: FreshDatabase) -> None:
    dsn = await fresh_empty_database("upgrade_family_new")
    assert "upgrade/family/circles_names_and_attendance" in await SPEC.migrate(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM events") == 0
    finally:
        await conn.close()


async def own_rows(pool: asyncpg.Pool) -> dict[str, list[dict[str, Any]]]:
    """The circle tables' rows, without the times the previous release took from now()
    (a rebuild takes them from the events, recorded a moment apart)."""
    untimed = {"family_circles": "opened_at", "family_sessions": "recorded_at",
               "consents": "granted_at", "support_persons": "linked_at"}
    rows = {}
    for table in OWN_TABLES:
        found = await pool.fetch(f"SELECT * FROM {table} ORDER BY 1, 2")
        rows[table] = [{k: v for k, v in row.items() if k != untimed.get(table)}
                       for row in found]
    return rows


async def rebuild_own_tables(pool: asyncpg.Pool) -> None:
    """Drop the rows the circle's events project to and replay each circle's stream."""
    async with pool.acquire() as conn, conn.transaction():
        for table in reversed(OWN_TABLES):
            await conn.execute(f"DELETE FROM {table}")
        for stream_id in await conn.fetch("SELECT stream_id FROM event_streams"):
            for envelope in await EVENTS.read_stream(conn, stream_id["stream_id"]):
                await project_circle(conn, parse_event(envelope), envelope)


class api_of:
    """Family's API on this database, for a site with a key of its own."""

    def __init__(self, dsn: str, pool: asyncpg.Pool) -> None:
        app = create_app(SPEC, FamilySettings(database_url=dsn))
        app.state.pool = pool
        self.pool = pool
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                        base_url="http://family")

    async def __aenter__(self) -> httpx.AsyncClient:
        key = new_key()
        issued: DomainEvent = ApiKeyIssued(
            site_id=SITE, key_id=key.key_id, secret_sha256=key.secret_sha256,
            scopes=[s for s in Scope if s is not Scope.OPERATOR],
            expires_at=datetime.now(UTC) + timedelta(days=1))
        [envelope] = EventStore.of("intake").envelopes("k", 0, [issued], Cause("c", "c"))
        async with self.pool.acquire() as conn:
            await REGISTRY_PROJECTORS[ApiKeyIssued](conn, issued, envelope)
        self.client.headers["Authorization"] = f"Bearer {key.plaintext}"
        return self.client

    async def __aexit__(self, *_: object) -> None:
        await self.client.aclose()
