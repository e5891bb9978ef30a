"""Plans' command handlers and projections on the real Postgres: draft on admission, revisions
that never merge, progress rows, family therapy following consent, and the site
confinement of every table."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from iopctl.stack import migrations_of, spec_of
from iopnet.auth import Principal, SiteDatabase
from iopnet.catalog import (
    SCOPE_COVERS,
    ConsentExpired,
    ConsentGranted,
    ConsentRevoked,
    ConsentScope,
    DomainEvent,
    OutcomeMeasured,
    PatientAdmitted,
    PatientTransferred,
    RevisionReason,
    ScheduledSession,
    Scope,
    SessionAttended,
    SessionKind,
    SessionMissed,
    SessionsCancelled,
    SessionScheduled,
    SessionsScheduled,
)
from iopnet.catalog.codes import Instrument, Modality
from iopnet.db import create_pool
from iopnet.eventstore import Cause, EventStore
from iopnet.migrate import apply_migrations
from iopnet.problems import Problem
from iopnet.topics import topic_of
from services.plans import commands, store
from services.plans.domain import ClinicalDecision, StaleRevision, TreatmentPlan
from services.plans.domain.plan_drafting import ChangeFrequency
from services.plans.domain.progress import attendance
from tests.conftest import FreshDatabase
from tests.fixtures.dates import site_today

pytestmark = pytest.mark.integration

START = date(2026, 12, 1)
SITE = "site-a"
INTAKE = EventStore.of("intake")
SESSIONS = EventStore.of("sessions")
FAMILY = EventStore.of("family")
CAUSE = Cause("corr", "cause")


@pytest.fixture
async def plans_db(fresh_database: FreshDatabase) -> AsyncIterator[asyncpg.Pool]:
    dsn = await fresh_database("plans")
    await apply_migrations(dsn, [migrations_of("plans")])
    pool = await create_pool(dsn)
    await pool.execute("INSERT INTO sites (site_id, name, time_zone, policies)"
                       " VALUES ($1, 'A', 'America/Chicago', '{}')", SITE)
    yield pool
    await pool.close()


def site(site_id: str = SITE) -> Principal:
    return Principal("key-1", site_id, frozenset({Scope.READ, Scope.PLANS_WRITE}), 600)


async def deliver(pool: asyncpg.Pool, source: EventStore, event: DomainEvent) -> str:
    """As the consumer runner does: one transaction, as the owner; the envelope's id."""
    [envelope] = source.envelopes(f"x-{uuid.uuid4()}", 0, [event], CAUSE)
    projection = spec_of("plans").consumer_projection()
    assert projection is not None
    projector = projection.projector_for(envelope)
    assert projector is not None
    async with pool.acquire() as conn, conn.transaction():
        await projector(conn, event, envelope)
    return envelope.id


async def admit(pool: asyncpg.Pool, patient_id: str | None = None) -> str:
    patient_id = patient_id or str(uuid.uuid4())
    await deliver(pool, INTAKE, PatientAdmitted(
        site_id=SITE, patient_id=patient_id, program_id="iop", start_date=START,
        days_per_week=4, planned_weeks=10, clinician_id="c-7", baseline_phq9=18,
        baseline_gad7=11,
    ))
    return patient_id


async def test_admission_drafts_the_plan_and_stores_it_whole(plans_db: asyncpg.Pool) -> None:
    patient_id = await admit(plans_db)
    async with SiteDatabase(plans_db, site()).transaction() as conn:
        episode = await store.find_episode(conn, patient_id)
        contents = await store.load_contents(conn, patient_id)
        revisions = await store.list_revisions(conn, patient_id)
        outbox = await plans_db.fetch("SELECT topic, envelope FROM outbox")
    assert episode is not None and episode["plan_status"] == "active"
    assert [p.code.value for p in contents.problems] == ["depression", "anxiety"]
    assert contents.interventions[0].clinician_id == "c-7"
    assert [r["revision"] for r in revisions] == [1]
    assert [(o["topic"], o["envelope"]["type"]) for o in outbox] == [
        (topic_of("plans"), "iopnet.PlanDrafted")]
    assert outbox[0]["envelope"]["streamid"] == f"plan-{patient_id}"


def revision_of(patient_id: str, intervention: str, expected: int = 1,
                note: str | None = "n") -> commands.PlanRevisionOrder:
    return commands.PlanRevisionOrder(patient_id, frozenset({expected}),
                                      [ChangeFrequency(intervention, 2)],
                                      RevisionReason.PROGRESS, note, "key-1")


async def test_two_revisions_of_one_revision_never_merge(plans_db: asyncpg.Pool) -> None:
    patient_id = await admit(plans_db)

    async def revise(intervention: str) -> str:
        try:
            async with SiteDatabase(plans_db, site()).transaction() as conn:
                await commands.revise_plan(commands.unit_of_work(conn, CAUSE),
                                           revision_of(patient_id, intervention))
                await asyncio.sleep(0.1)  # the other waits for this one's episode lock
            return "saved"
        except StaleRevision:
            return "stale"

    outcomes = await asyncio.gather(revise("I2"), revise("I3"))
    assert sorted(outcomes) == ["saved", "stale"]
    async with SiteDatabase(plans_db, site()).transaction() as conn:
        revisions = await store.list_revisions(conn, patient_id)
    assert [r["revision"] for r in revisions] == [1, 2]
    assert revisions[1]["note"] == "n" and revisions[1]["recorded_by"] == "key-1"


async def test_another_site_sees_nothing_of_the_plan(plans_db: asyncpg.Pool) -> None:
    patient_id = await admit(plans_db)
    async with SiteDatabase(plans_db, site("site-b")).transaction() as conn:
        assert await store.find_episode(conn, patient_id) is None
        with pytest.raises(Problem) as unseen:
            await commands.revise_plan(commands.unit_of_work(conn, CAUSE),
                                       revision_of(patient_id, "I2"))
        assert unseen.value.status == 404
        for table in store.PATIENT_TABLES:
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table


async def test_a_transferred_patients_plan_goes_on_at_the_new_site(
    plans_db: asyncpg.Pool,
) -> None:
    patient_id = await admit(plans_db)
    await deliver(plans_db, INTAKE, PatientTransferred(
        site_id="site-b", patient_id=patient_id, from_site_id=SITE))
    async with SiteDatabase(plans_db, site("site-b")).transaction() as conn:
        plan, _ = await commands.revise_plan(commands.unit_of_work(conn, CAUSE),
                                             revision_of(patient_id, "I2"))
        revisions = await store.list_revisions(conn, patient_id)
    assert plan.site_id == "site-b"
    assert [r["revision"] for r in revisions] == [1, 2]
    kinds = await plans_db.fetch("SELECT envelope->>'type' AS kind, envelope->>'siteid' AS site"
                                 " FROM events ORDER BY global_position")
    assert [(k["kind"], k["site"]) for k in kinds][2:4] == [
        ("iopnet.PlanTransferred", "site-b"), ("iopnet.PlanRevised", "site-b")]


@pytest.mark.parametrize("one_event_a_session", [False, True],
                         ids=["SessionsScheduled", "SessionScheduled of an older producer"])
async def test_sessions_events_build_attendance_dated_in_the_sites_time_zone(
    plans_db: asyncpg.Pool, one_event_a_session: bool,
) -> None:
    patient_id = await admit(plans_db)
    # 01:00 UTC on Dec 2 is still Dec 1 in Chicago.
    schedule = SessionsScheduled(site_id=SITE, patient_id=patient_id, sessions=[
        ScheduledSession(session_id=f"s{n}", kind=SessionKind.GROUP,
                         modality=Modality.GROUP_THERAPY,
                         starts_at=datetime(2026, 12, *hour, tzinfo=UTC), duration_minutes=180,
                         clinician_id="c-7")
        for n, hour in enumerate([(2, 1), (3, 15), (4, 15), (5, 15)])])
    if one_event_a_session:
        for session in schedule.sessions:
            await deliver(plans_db, SESSIONS, SessionScheduled(
                site_id=SITE, patient_id=patient_id, **session.model_dump()))
    else:
        await deliver(plans_db, SESSIONS, schedule)
    await deliver(plans_db, SESSIONS, SessionAttended(
        site_id=SITE, patient_id=patient_id, session_id="s0", credited_minutes=180,
        attended_on=START))
    await deliver(plans_db, SESSIONS, SessionMissed(
        site_id=SITE, patient_id=patient_id, session_id="s1", excused=True,
        missed_on=date(2026, 12, 3)))
    await deliver(plans_db, SESSIONS, SessionsCancelled(
        site_id=SITE, patient_id=patient_id, session_ids=["s0", "s3"], reason="SteppedDown"))
    await deliver(plans_db, SESSIONS, OutcomeMeasured(
        site_id=SITE, patient_id=patient_id, measure_id="m1", instrument=Instrument.PHQ9,
        total=12, item9=0, measured_on=date(2026, 12, 8), program_week=2))
    async with SiteDatabase(plans_db, site()).transaction() as conn:
        episode = store.episode_of(await store.find_episode(conn, patient_id) or {})
        progress = await store.load_progress(conn, episode)
    assert progress.sessions[0].held_on == START
    counts = attendance(progress.sessions, date(2026, 12, 31))
    assert (counts.scheduled_to_date, counts.attended, counts.missed_excused) == (3, 1, 1)
    assert [m.total for m in progress.measures] == [12]


async def consent(pool: asyncpg.Pool, patient_id: str, consent_id: str, *,
                  revoke: bool = False, replaced_by: str | None = None,
                  person: str | None = None, expires_on: date | None = None,
                  expired_on: date | None = None,
                  scope: ConsentScope = ConsentScope.FAMILY_PARTICIPATION) -> str:
    fields = {"site_id": SITE, "patient_id": patient_id, "consent_id": consent_id,
              "support_person_id": person or f"person-{consent_id}"}
    event: DomainEvent
    if expired_on is not None:
        event = ConsentExpired(**fields, expired_on=expired_on)
    elif revoke:
        event = ConsentRevoked(**fields, replaced_by=replaced_by)
    else:
        event = ConsentGranted(**fields, scope=scope, expires_on=expires_on,
                               covers=sorted(SCOPE_COVERS[scope]))
    return await deliver(pool, FAMILY, event)


async def plan_events(pool: asyncpg.Pool) -> list[tuple[str, str]]:
    rows = await pool.fetch("SELECT envelope FROM outbox ORDER BY position")
    return [(r["envelope"]["type"], r["envelope"]["causationid"]) for r in rows]


async def suggestions(pool: asyncpg.Pool, patient_id: str) -> list[dict[str, Any]]:
    async with SiteDatabase(pool, site()).transaction() as conn:
        return await store.list_family_therapy_suggestions(conn, patient_id)


async def accept(pool: asyncpg.Pool, patient_id: str) -> None:
    [open_one] = [s for s in await suggestions(pool, patient_id) if s["status"] == "open"]
    async with SiteDatabase(pool, site()).transaction() as conn:
        await commands.accept_family_therapy(
            commands.unit_of_work(conn, CAUSE), patient_id, open_one["suggestion_id"],
            ClinicalDecision("c-7", "family conflict keeps the low mood going", "key-1"))


async def test_a_consent_before_the_admission_is_suggested_once_drafted(
    plans_db: asyncpg.Pool,
) -> None:
    patient_id = str(uuid.uuid4())
    await consent(plans_db, patient_id, "k1")
    assert await plan_events(plans_db) == []
    async with SiteDatabase(plans_db, site("site-b")).transaction() as conn:
        assert await conn.fetchval("SELECT count(*) FROM family_consents") == 0
    await admit(plans_db, patient_id)
    async with SiteDatabase(plans_db, site()).transaction() as conn:
        contents = await store.load_contents(conn, patient_id)
    assert Modality.FAMILY_THERAPY not in contents.modalities()
    assert contents.revision == 1
    assert [(s["consent_id"], s["status"]) for s in await suggestions(plans_db, patient_id)
            ] == [("k1", "open")]
    assert [kind for kind, _ in await plan_events(plans_db)] == ["iopnet.PlanDrafted"]


async def test_a_schedule_only_consent_leaves_the_plan_alone(plans_db: asyncpg.Pool) -> None:
    patient_id = await admit(plans_db)
    await consent(plans_db, patient_id, "k1", scope=ConsentScope.SCHEDULE)
    await consent(plans_db, patient_id, "k2", scope=ConsentScope.PROGRESS_SUMMARIES)
    assert await suggestions(plans_db, patient_id) == []
    assert [kind for kind, _ in await plan_events(plans_db)] == ["iopnet.PlanDrafted"]


async def test_family_therapy_comes_when_accepted_and_goes_with_the_last_consent(
    plans_db: asyncpg.Pool,
) -> None:
    patient_id = await admit(plans_db)
    await consent(plans_db, patient_id, "k1")
    await consent(plans_db, patient_id, "k1")  # redelivered
    await consent(plans_db, patient_id, "k2")
    assert len(await suggestions(plans_db, patient_id)) == 1
    await accept(plans_db, patient_id)
    await consent(plans_db, patient_id, "k1", revoke=True)
    last = await consent(plans_db, patient_id, "k2", revoke=True)
    async with SiteDatabase(plans_db, site()).transaction() as conn:
        revisions = await store.list_revisions(conn, patient_id)
        contents = await store.load_contents(conn, patient_id)
        plan = await commands.unit_of_work(conn, CAUSE).load(TreatmentPlan, patient_id)
    assert [(r["revision"], r["reason"], r["change_codes"], r["recorded_by"])
            for r in revisions] == [(1, None, [], None),
                                    (2, "clinical_judgement", ["added:I8"], "key-1"),
                                    (3, "family_consent", ["removed:I8"], None)]
    assert revisions[1]["changes"][0]["modality"] == "family_therapy"
    assert revisions[1]["note"] == "family conflict keeps the low mood going"
    [accepted] = await suggestions(plans_db, patient_id)
    assert (accepted["status"], accepted["revision"], accepted["clinician_id"]) == (
        "accepted", 2, "c-7")
    assert Modality.FAMILY_THERAPY not in contents.modalities()
    drafted, *revised = await plan_events(plans_db)
    assert drafted[0] == "iopnet.PlanDrafted"
    assert [kind for kind, _ in revised] == ["iopnet.PlanRevised"] * 2
    assert revised[-1] == ("iopnet.PlanRevised", last)
    assert plan is not None and plan.revision == 3
    with pytest.raises(StaleRevision):  # a clinician still holding ETag "1"
        plan.revise(1, [ChangeFrequency("I2", 2)], RevisionReason.PROGRESS)


async def test_a_consent_replaced_by_a_new_grant_keeps_family_therapy(
    plans_db: asyncpg.Pool,
) -> None:
    patient_id = await admit(plans_db)
    await consent(plans_db, patient_id, "k1", person="sam")
    await accept(plans_db, patient_id)
    await consent(plans_db, patient_id, "k1", person="sam", revoke=True, replaced_by="k2")
    await consent(plans_db, patient_id, "k2", person="sam")
    async with SiteDatabase(plans_db, site()).transaction() as conn:
        revisions = await store.list_revisions(conn, patient_id)
        contents = await store.load_contents(conn, patient_id)
    assert [(r["revision"], r["change_codes"]) for r in revisions] == [
        (1, []), (2, ["added:I8"])]
    assert Modality.FAMILY_THERAPY in contents.modalities()


async def test_the_expiry_of_the_last_consent_takes_family_therapy_out(
    plans_db: asyncpg.Pool,
) -> None:
    patient_id = await admit(plans_db)
    last_day = site_today()  # the site's (Chicago) today: the consent is live now
    await consent(plans_db, patient_id, "k1", expires_on=last_day)
    await accept(plans_db, patient_id)
    await consent(plans_db, patient_id, "k2")
    await consent(plans_db, patient_id, "k2", revoke=True)  # k1 is still live
    # Family's word that k1 expired ends it, even where plans' today is still its last day.
    expired = await consent(plans_db, patient_id, "k1",
                            expired_on=last_day + timedelta(days=1))
    await consent(plans_db, patient_id, "k1", expired_on=last_day + timedelta(days=1))
    async with SiteDatabase(plans_db, site()).transaction() as conn:
        revisions = await store.list_revisions(conn, patient_id)
        contents = await store.load_contents(conn, patient_id)
    assert [(r["revision"], r["reason"], r["change_codes"]) for r in revisions] == [
        (1, None, []), (2, "clinical_judgement", ["added:I8"]),
        (3, "family_consent", ["removed:I8"])]
    assert Modality.FAMILY_THERAPY not in contents.modalities()
    assert (await plan_events(plans_db))[-1] == ("iopnet.PlanRevised", expired)


async def test_the_end_of_the_consent_lapses_an_open_suggestion(plans_db: asyncpg.Pool
                                                                  ) -> None:
    patient_id = await admit(plans_db)
    await consent(plans_db, patient_id, "k1")
    await consent(plans_db, patient_id, "k1", revoke=True)
    [lapsed] = await suggestions(plans_db, patient_id)
    assert lapsed["status"] == "lapsed"
    assert [kind for kind, _ in await plan_events(plans_db)] == ["iopnet.PlanDrafted"]


async def test_a_consent_expired_before_the_admission_brings_no_family_therapy(
    plans_db: asyncpg.Pool,
) -> None:
    patient_id = str(uuid.uuid4())
    last_day = site_today()
    await consent(plans_db, patient_id, "k1", expires_on=last_day)
    await consent(plans_db, patient_id, "k1", expired_on=last_day + timedelta(days=1))
    await admit(plans_db, patient_id)
    async with SiteDatabase(plans_db, site()).transaction() as conn:
        contents = await store.load_contents(conn, patient_id)
    assert Modality.FAMILY_THERAPY not in contents.modalities()


async def test_continued_stays_are_recorded_with_the_clinician_and_reason(
    plans_db: asyncpg.Pool,
) -> None:
    patient_id = await admit(plans_db)
    decision = ClinicalDecision("c-7", "still at risk of relapse at work", "key-1")
    for weeks in (2, 1):
        async with SiteDatabase(plans_db, site()).transaction() as conn:
            await commands.continue_stay(commands.unit_of_work(conn, CAUSE), patient_id, weeks,
                                         decision)
    async with SiteDatabase(plans_db, site()).transaction() as conn:
        stays = await store.list_continued_stays(conn, patient_id)
        episode = store.episode_of(await store.find_episode(conn, patient_id) or {})
    assert [(s["extension"], s["weeks_added"], s["planned_end"], s["clinician_id"], s["reason"])
            for s in stays] == [
        (1, 2, episode.planned_end + timedelta(weeks=2), "c-7", decision.reason),
        (2, 1, episode.planned_end + timedelta(weeks=3), "c-7", decision.reason)]
