"""Family's API, projections and consent expiry job on the real Postgres: consent decides
what is shared, row-level security decides whose patient exists."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from iopctl.stack import migrations_of
from iopnet.app import create_app
from iopnet.auth.keys import new_key
from iopnet.catalog import (
    ApiKeyIssued,
    DomainEvent,
    PatientAdmitted,
    PatientForgotten,
    PatientTransferred,
    Phq9Trend,
    ProgressJudged,
    ScheduledSession,
    Scope,
    SessionKind,
    SessionsCancelled,
    SessionScheduled,
    SessionsScheduled,
    SiteOnboarded,
    SitePolicies,
    SteppedDown,
    parse_event,
)
from iopnet.catalog.codes import Modality
from iopnet.db import create_pool
from iopnet.eventstore import Cause, EventStore
from iopnet.migrate import apply_migrations
from iopnet.topics import topic_of
from services.family.consent_expiry import expire_due_consents
from services.family.projections import FORGOTTEN_TABLES, project_circle
from services.family.service import SPEC
from services.family.settings import FamilySettings
from tests.conftest import FreshDatabase
from tests.fixtures.dates import SITE_TIME_ZONE, site_today

pytestmark = pytest.mark.integration

#: What family's consumer applies: its projection, the network registry, forgetting.
CONSUMED = SPEC.consumer_projection() or SPEC.projection

SITE_SCOPES = [s for s in Scope if s is not Scope.OPERATOR]


@dataclass
class Family:
    pool: asyncpg.Pool
    north: httpx.AsyncClient
    south: httpx.AsyncClient

    async def deliver(self, event: DomainEvent, source: str = "sessions") -> None:
        """What the consumer runner does with one event of another service."""
        store = EventStore.of(source)
        [envelope] = store.envelopes(f"x-{uuid.uuid4()}", 0, [event], Cause("c", "c"))
        projector = CONSUMED.projector_for(envelope)
        assert projector is not None, envelope.type
        async with self.pool.acquire() as conn, conn.transaction():
            await projector(conn, event, envelope)

    async def admit(self, site_id: str = "site-north", baseline_phq9: int = 18) -> str:
        patient_id = str(uuid.uuid4())
        await self.deliver(PatientAdmitted(
            site_id=site_id, patient_id=patient_id, program_id="iop-adult",
            start_date=site_today(), days_per_week=4, planned_weeks=10, clinician_id="c-7",
            baseline_phq9=baseline_phq9), source="intake")
        return patient_id


@pytest.fixture
async def family(fresh_database: FreshDatabase) -> AsyncIterator[Family]:
    dsn = await fresh_database("family")
    await apply_migrations(dsn, [migrations_of("family")])
    pool = await create_pool(dsn)
    app = create_app(SPEC, FamilySettings(database_url=dsn))
    app.state.pool = pool
    transport = httpx.ASGITransport(app=app)
    world = Family(pool, *[httpx.AsyncClient(transport=transport, base_url="http://family")
                           for _ in range(2)])
    for site, client in (("site-north", world.north), ("site-south", world.south)):
        await world.deliver(SiteOnboarded(site_id=site, name=site, time_zone=SITE_TIME_ZONE,
                                          policies=SitePolicies()), source="intake")
        key = new_key()
        await world.deliver(ApiKeyIssued(site_id=site, key_id=key.key_id,
                                         secret_sha256=key.secret_sha256, scopes=SITE_SCOPES),
                            source="intake")
        client.headers["Authorization"] = f"Bearer {key.plaintext}"
    yield world
    for client in (world.north, world.south):
        await client.aclose()
    await pool.close()


async def link(client: httpx.AsyncClient, patient_id: str) -> str:
    answer = await client.post(f"/v1/patients/{patient_id}/support-persons", json={
        "relationship": "parent", "given_name": "Grace", "family_name": "Example"})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["support_person_id"])


async def grant(client: httpx.AsyncClient, patient_id: str, person: str, scope: str,
                **extra: Any) -> httpx.Response:
    return await client.post(
        f"/v1/patients/{patient_id}/support-persons/{person}/consents",
        json={"scope": scope, **extra})


async def shared_view(client: httpx.AsyncClient, patient_id: str, person: str
                      ) -> dict[str, Any]:
    answer = await client.get(f"/v1/patients/{patient_id}/support-persons/{person}/shared-view")
    assert answer.status_code == 200, answer.text
    view: dict[str, Any] = answer.json()
    return view


async def test_what_is_shared_follows_live_consent(family: Family) -> None:
    patient_id = await family.admit(baseline_phq9=18)
    person = await link(family.north, patient_id)
    soon = datetime.now(UTC) + timedelta(days=2)
    await family.deliver(SessionsScheduled(site_id="site-north", patient_id=patient_id, sessions=[
        ScheduledSession(session_id=f"s-{n}", kind=SessionKind.GROUP,
                         modality=Modality.DBT_SKILLS, starts_at=when, duration_minutes=180,
                         clinician_id="c-7")
        for n, when in enumerate([soon, soon + timedelta(days=1),
                                  datetime.now(UTC) - timedelta(1)])]))
    await family.deliver(SessionsCancelled(site_id="site-north", patient_id=patient_id,
                                           session_ids=["s-1"], reason="PlanRevised"))
    await family.deliver(ProgressJudged(  # plans' judgement, the one "improving"
        site_id="site-north", patient_id=patient_id, measure_id="m-1",
        measured_on=site_today(), program_week=2, baseline_phq9=18, total=12,
        trend=Phq9Trend.IMPROVING, response=False, remission=False), source="plans")

    nothing = await shared_view(family.north, patient_id, person)
    assert (nothing["scopes"], nothing["shared"]) == ([], [])

    schedule = await grant(family.north, patient_id, person, "schedule")
    assert schedule.status_code == 201, schedule.text
    assert schedule.json()["status"] == "live"
    view = await shared_view(family.north, patient_id, person)
    assert view["scopes"] == ["schedule"]
    [section] = view["shared"]
    assert section == {"scope": "schedule", "upcoming_sessions": [
        {"starts_at": section["upcoming_sessions"][0]["starts_at"], "duration_minutes": 180,
         "kind": "group"}]}  # upcoming, not cancelled, no modality or clinician

    progress = await grant(family.north, patient_id, person, "progress_summaries")
    assert progress.status_code == 201
    view = await shared_view(family.north, patient_id, person)
    assert view["scopes"] == ["progress_summaries", "schedule"]
    summary = view["shared"][1]
    assert summary == {"scope": "progress_summaries", "trend": "improving",
                       "care_status": "in_program", "status_since": site_today().isoformat()}

    await family.deliver(SteppedDown(site_id="site-north", patient_id=patient_id,
                                     effective_on=site_today(), aftercare=["weekly_therapy"],
                                     follow_up_within_days=7), source="plans")
    assert (await shared_view(family.north, patient_id, person))["shared"][1][
        "care_status"] == "stepped_down"

    history = (await family.north.get(
        f"/v1/patients/{patient_id}/support-persons/{person}/consents")).json()
    assert [(c["scope"], c["status"]) for c in history] == [
        ("schedule", "revoked"), ("progress_summaries", "live")]  # the new grant replaced it

    consent_id = progress.json()["consent_id"]
    revoke = f"/v1/patients/{patient_id}/support-persons/{person}/consents/{consent_id}/revoke"
    revoked = await family.north.post(revoke)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    view = await shared_view(family.north, patient_id, person)
    assert (view["scopes"], view["shared"]) == ([], [])
    again = await family.north.post(revoke)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"


async def test_consent_rules_answer_with_the_field_or_resource_at_fault(family: Family) -> None:
    patient_id = await family.admit()
    person = await link(family.north, patient_id)
    past = await grant(family.north, patient_id, person, "schedule",
                       expires_on=(site_today() - timedelta(days=2)).isoformat())
    assert past.status_code == 422
    assert [e["pointer"] for e in past.json()["errors"]] == ["#/expires_on"]
    stranger = await grant(family.north, patient_id, str(uuid.uuid4()), "schedule")
    assert stranger.status_code == 404
    unknown_scope = await grant(family.north, patient_id, person, "everything")
    assert unknown_scope.status_code == 422
    assert [e["pointer"] for e in unknown_scope.json()["errors"]] == ["#/scope"]
    unknown_consent = await family.north.post(
        f"/v1/patients/{patient_id}/support-persons/{person}/consents/{uuid.uuid4()}/revoke")
    assert unknown_consent.status_code == 404


async def test_another_sites_circle_does_not_exist_for_it(family: Family) -> None:
    patient_id = await family.admit("site-north")
    person = await link(family.north, patient_id)
    for path in ("", "/support-persons", f"/support-persons/{person}",
                 f"/support-persons/{person}/consents", f"/support-persons/{person}/shared-view",
                 "/family-sessions"):
        answer = await family.south.get(f"/v1/patients/{patient_id}{path}")
        assert answer.status_code == 404, path
    assert (await link_status(family.south, patient_id)) == 404
    assert (await grant(family.south, patient_id, person, "schedule")).status_code == 404


async def link_status(client: httpx.AsyncClient, patient_id: str) -> int:
    answer = await client.post(f"/v1/patients/{patient_id}/support-persons", json={
        "relationship": "friend", "given_name": "A", "family_name": "B"})
    return answer.status_code


async def test_family_sessions_keep_attendance_and_publish_a_count(family: Family) -> None:
    patient_id = await family.admit()
    mother, brother = await link(family.north, patient_id), await link(family.north, patient_id)
    answer = await family.north.post(f"/v1/patients/{patient_id}/family-sessions", json={
        "kind": "family_psychoeducation", "held_on": site_today().isoformat(),
        "clinician_id": "clin-7",
        "attendance": [{"support_person_id": mother, "attended": True},
                       {"support_person_id": brother, "attended": False}]})
    assert answer.status_code == 201, answer.text
    sessions = (await family.north.get(f"/v1/patients/{patient_id}/family-sessions")).json()
    assert [s["kind"] for s in sessions] == ["family_psychoeducation"]
    assert {(a["support_person_id"], a["attended"]) for a in sessions[0]["attendance"]} == {
        (mother, True), (brother, False)}
    envelope = await family.pool.fetchval(
        "SELECT envelope FROM events WHERE event_type = 'iopnet.FamilySessionHeld'")
    assert envelope["data"]["support_persons_present"] == 1
    assert "clin-7" not in str(envelope) and mother not in str(envelope)
    stranger = await family.north.post(f"/v1/patients/{patient_id}/family-sessions", json={
        "kind": "family_therapy", "held_on": site_today().isoformat(), "clinician_id": "c",
        "attendance": [{"support_person_id": str(uuid.uuid4()), "attended": True}]})
    assert stranger.status_code == 422
    assert stranger.json()["errors"][0]["pointer"] == "#/attendance/0/support_person_id"


async def test_support_person_names_stay_in_family(family: Family) -> None:
    patient_id = await family.admit()
    await link(family.north, patient_id)
    envelopes = await family.pool.fetch("SELECT envelope FROM events")
    assert envelopes and all("Grace" not in str(e) for e in envelopes)
    outbox = await family.pool.fetch("SELECT envelope FROM outbox")
    assert [o["envelope"]["type"] for o in outbox] == ["iopnet.SupportPersonLinked"]
    circle = (await family.north.get(f"/v1/patients/{patient_id}")).json()
    assert circle["site_id"] == "site-north"
    assert "given_name" not in str(circle)


def at_the_site(day: date, hour: int, minute: int) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(SITE_TIME_ZONE))


async def consent_statuses(client: httpx.AsyncClient, patient_id: str, person: str
                           ) -> list[str]:
    answer = await client.get(f"/v1/patients/{patient_id}/support-persons/{person}/consents")
    assert answer.status_code == 200, answer.text
    return [c["status"] for c in answer.json()]


async def expiries(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT o.topic, o.envelope FROM outbox o"
                            " WHERE o.envelope->>'type' = 'iopnet.ConsentExpired'"
                            " ORDER BY o.position")
    assert {row["topic"] for row in rows} <= {topic_of("family")}
    return [dict(row["envelope"]["data"]) for row in rows]


async def test_the_expiry_job_ends_a_consent_once_after_its_last_day_at_the_site(
        family: Family) -> None:
    patient_id = await family.admit()
    expiring, revoked, lasting = [await link(family.north, patient_id) for _ in range(3)]
    last_day = site_today()
    consent_ids = {}
    for person, expires_on in ((expiring, last_day), (revoked, last_day),
                               (lasting, last_day + timedelta(days=30))):
        granted = await grant(family.north, patient_id, person, "schedule",
                              expires_on=expires_on.isoformat())
        assert granted.status_code == 201, granted.text
        consent_ids[person] = granted.json()["consent_id"]
    revoke = (f"/v1/patients/{patient_id}/support-persons/{revoked}/consents/"
              f"{consent_ids[revoked]}/revoke")
    assert (await family.north.post(revoke)).status_code == 200

    # Late on its last day at the site, already the next day in UTC: it still holds.
    assert await expire_due_consents(family.pool, at_the_site(last_day, 23, 30)) == 0
    next_day = at_the_site(last_day + timedelta(days=1), 0, 30)
    assert await expire_due_consents(family.pool, next_day) == 1
    assert await expiries(family.pool) == [{
        "site_id": "site-north", "patient_id": patient_id,
        "consent_id": consent_ids[expiring], "support_person_id": expiring,
        "expired_on": (last_day + timedelta(days=1)).isoformat()}]
    assert await family.pool.fetchval(
        "SELECT expired_on FROM consents WHERE consent_id = $1",
        uuid.UUID(consent_ids[expiring])) == last_day + timedelta(days=1)
    # Recorded, it reads expired on any day, the real today (its last day) included.
    assert await consent_statuses(family.north, patient_id, expiring) == ["expired"]
    assert await expire_due_consents(family.pool, next_day) == 0  # once

    month_later = at_the_site(last_day + timedelta(days=31), 12, 0)
    assert await expire_due_consents(family.pool, month_later) == 1
    assert [e["consent_id"] for e in await expiries(family.pool)] == [
        consent_ids[expiring], consent_ids[lasting]]  # never the revoked one
    assert await consent_statuses(family.north, patient_id, revoked) == ["revoked"]


async def test_every_family_table_is_confined_to_a_site(family: Family) -> None:
    tables = await family.pool.fetch(
        "SELECT c.relname, c.relrowsecurity FROM pg_class c JOIN pg_attribute a"
        " ON a.attrelid = c.oid WHERE a.attname = 'site_id' AND c.relkind = 'r'"
        " AND c.relnamespace = 'public'::regnamespace")
    mine = {t["relname"]: t["relrowsecurity"] for t in tables}
    for table in SPEC.patient_tables:
        assert mine[table], table
    assert mine["family_sessions"] and mine["family_session_attendance"]


async def test_a_transferred_circle_belongs_to_its_new_site(family: Family) -> None:
    patient_id = await family.admit("site-north")
    person = await link(family.north, patient_id)
    await family.deliver(PatientTransferred(site_id="site-south", patient_id=patient_id,
                                            from_site_id="site-north"), source="intake")
    assert (await family.north.get(f"/v1/patients/{patient_id}")).status_code == 404
    assert (await link_status(family.north, patient_id)) == 404
    assert (await grant(family.south, patient_id, person, "schedule")).status_code == 201
    assert (await link_status(family.south, patient_id)) == 201
    people = (await family.south.get(f"/v1/patients/{patient_id}/support-persons")).json()
    assert [p["given_name"] for p in people] == ["Grace", "A"]
    moved = await family.pool.fetchval(
        "SELECT envelope FROM events WHERE event_type = 'iopnet.FamilyCircleMoved'")
    assert moved["data"]["site_id"] == "site-south"


async def test_patients_sharing_a_group_session_each_keep_their_own_place(
    family: Family,
) -> None:
    """A group's session has one id for every patient in the group."""
    holder, waiting = await family.admit(), await family.admit()
    starts = datetime.now(UTC) + timedelta(days=2)
    for patient_id, waitlisted in ((holder, False), (waiting, True)):
        await family.deliver(SessionsScheduled(
            site_id="site-north", patient_id=patient_id, sessions=[ScheduledSession(
                session_id="g-mon-1", kind=SessionKind.GROUP, modality=Modality.DBT_SKILLS,
                starts_at=starts, duration_minutes=180, clinician_id="c-7",
                waitlisted=waitlisted)]))
    rows = await family.pool.fetch("SELECT patient_id::text, waitlisted FROM scheduled_sessions"
                                   " WHERE session_id = 'g-mon-1'")
    assert sorted(tuple(r) for r in rows) == sorted([(holder, False), (waiting, True)])


async def test_a_forgotten_patient_leaves_no_name_in_any_family_table(family: Family) -> None:
    patient_id, other = await family.admit(), await family.admit()
    linked = await family.north.post(
        f"/v1/patients/{patient_id}/support-persons", headers={"Idempotency-Key": "k-1"},
        json={"relationship": "parent", "given_name": "Grace", "family_name": "Example"})
    person = linked.json()["support_person_id"]
    await link(family.north, other)
    assert (await grant(family.north, patient_id, person, "schedule")).status_code == 201
    held = await family.north.post(f"/v1/patients/{patient_id}/family-sessions", json={
        "kind": "family_therapy", "held_on": site_today().isoformat(), "clinician_id": "c-7",
        "attendance": [{"support_person_id": person, "attended": True}]})
    assert held.status_code == 201, held.text
    await family.deliver(SessionScheduled(  # an older producer's: a schedule of one
        site_id="site-north", patient_id=patient_id, session_id="s-1", kind=SessionKind.GROUP,
        modality=Modality.DBT_SKILLS, starts_at=datetime.now(UTC) + timedelta(days=1),
        duration_minutes=180, clinician_id="c-7"))

    await family.deliver(PatientForgotten(site_id="site-north", patient_id=patient_id),
                         source="intake")

    for table in FORGOTTEN_TABLES:
        assert not await family.pool.fetchval(
            f"SELECT count(*) FROM {table} WHERE patient_id = $1", uuid.UUID(patient_id)), table
    assert await tables_holding(family.pool, "Grace") == {"support_persons"}  # the other's,
    assert await tables_holding(family.pool, "Example") == {"support_persons"}
    assert (await family.north.get(f"/v1/patients/{patient_id}")).status_code == 404
    assert (await link_status(family.north, patient_id)) == 404  # the circle is closed
    async with family.pool.acquire() as conn:
        stream = await EventStore.of("family").read_stream(conn, f"family-{patient_id}")
        names = [e.data for e in stream if e.type == "iopnet.SupportPersonNamed"]
        assert [(n["given_name"], n["family_name"]) for n in names] == [(None, None)]
        async with conn.transaction():  # a rebuild of the circle's tables from its stream
            for envelope in stream:
                await project_circle(conn, parse_event(envelope), envelope)
            assert await tables_holding(conn, "Grace") == {"support_persons"}
            assert not await conn.fetchval(
                "SELECT count(*) FROM support_persons WHERE patient_id = $1",
                uuid.UUID(patient_id))


async def tables_holding(conn: asyncpg.Pool | asyncpg.Connection, text: str) -> set[str]:
    """The tables with a row whose text holds ``text``, in plain text."""
    tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    found = set()
    for row in tables:
        name = row["tablename"]
        if await conn.fetchval(f"SELECT count(*) FROM {name} t WHERE t::text LIKE $1",
                               f"%{text}%"):
            found.add(name)
    return found
