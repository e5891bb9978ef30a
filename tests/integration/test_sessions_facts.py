"""Sessions' event store is the source of truth: programs and enrollment terms are private
events, every derived table can be rebuilt from the events, and a forgotten patient leaves
no row behind."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import asyncpg
import pytest

from iopnet.catalog import (
    DomainEvent,
    Modality,
    PatientAdmitted,
    PatientForgotten,
    PlanDrafted,
    PlannedIntervention,
    PlanRevised,
    RevisionReason,
    SteppedDown,
    parse_event,
)
from iopnet.db import create_pool
from iopnet.eventstore import Cause, EventStore
from iopnet.topics import topic_of
from services.sessions import commands, read_models, store, weekly_review
from services.sessions.domain import AttendanceStatus, Group
from services.sessions.service import SPEC
from tests.conftest import FreshDatabase
from tests.fixtures.dates import program_start

pytestmark = pytest.mark.integration

SITE = "site-n"
START = program_start()
BEFORE_START = datetime.combine(START - timedelta(days=30), time(12), tzinfo=UTC)
GROUPS = [
    Group(SITE, "iop", "g-mon", Modality.GROUP_THERAPY, "clin-1", 0, time(9), 180, 1),
    Group(SITE, "iop", "g-tue", Modality.PSYCHOEDUCATION, "clin-2", 1, time(9), 180, 8),
    Group(SITE, "iop", "g-wed", Modality.MINDFULNESS, "clin-3", 2, time(9), 180, 8),
]
DERIVED = {  # table → its key columns, for comparing rows
    "programs": "site_id, program_id",
    "program_groups": "site_id, group_id",
    "enrollments": "patient_id",
    "patient_sessions": "session_id, patient_id",
}


@pytest.fixture
async def pool(fresh_database: FreshDatabase) -> AsyncIterator[asyncpg.Pool]:
    dsn = await fresh_database("sessions_facts")
    await SPEC.migrate(dsn)
    pool = await create_pool(dsn)
    await pool.execute("INSERT INTO sites (site_id, name, time_zone, policies)"
                       " VALUES ($1, 'North', 'America/Chicago', '{}')", SITE)
    async with pool.acquire() as conn, conn.transaction():
        uow = commands.unit_of_work(conn, Cause("req", "req"))
        await commands.define_program(uow, SITE, "iop", "Adult IOP", BEFORE_START)
        for group in GROUPS:
            await commands.add_group(uow, group, BEFORE_START)
    yield pool
    await pool.close()


async def consume(pool: asyncpg.Pool, event: DomainEvent, source: str,
                  at: datetime | None = None) -> None:
    """What the worker does with a consumed event: its projectors, then its reactions."""
    made = EventStore.of(source).envelopes(f"x-{uuid.uuid4()}", 0, [event],
                                           Cause("c", "c"))[0]
    made = made.model_copy(update={"time": at}) if at else made
    projection = SPEC.consumer_projection()
    assert projection is not None
    projector = projection.projector_for(made)
    assert projector is not None
    async with pool.acquire() as conn, conn.transaction():
        await projector(conn, event, made)


async def admit(pool: asyncpg.Pool) -> str:
    patient_id = str(uuid.uuid4())
    await consume(pool, PatientAdmitted(
        patient_id=patient_id, site_id=SITE, program_id="iop", start_date=START,
        days_per_week=3, planned_weeks=8, clinician_id="clin-7", baseline_phq9=18), "intake")
    return patient_id


async def rows(pool: asyncpg.Pool, table: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(f"SELECT * FROM {table} ORDER BY {DERIVED[table]}")]


async def test_programs_and_terms_are_private_events_and_never_published(
    pool: asyncpg.Pool,
) -> None:
    await admit(pool)
    private = await pool.fetch("SELECT event_type, published, topic FROM events"
                               " WHERE event_type IN ('iopnet.ProgramDefined',"
                               " 'iopnet.GroupAdded', 'iopnet.EnrollmentOpened')")
    assert sorted(r["event_type"] for r in private) == [
        "iopnet.EnrollmentOpened", "iopnet.GroupAdded", "iopnet.GroupAdded",
        "iopnet.GroupAdded", "iopnet.ProgramDefined"]
    assert {(r["published"], r["topic"]) for r in private} == {(False, None)}
    published = await pool.fetch("SELECT envelope->>'type' AS type FROM outbox")
    assert {r["type"] for r in published} == {"iopnet.SessionScheduled"}
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE topic <> $1",
                               topic_of("sessions")) == 0


async def test_every_derived_table_is_rebuilt_from_the_events_alike(pool: asyncpg.Pool) -> None:
    holder, waiting = await admit(pool), await admit(pool)  # g-mon holds one: waiting waits
    await consume(pool, SteppedDown(patient_id=holder, site_id=SITE,
                                    effective_on=START + timedelta(days=20),
                                    aftercare=[], follow_up_within_days=7), "plans",
                  at=BEFORE_START)
    async with pool.acquire() as conn, conn.transaction():
        uow = commands.unit_of_work(conn, Cause("req", "req"))
        held = next(s for s in (await commands.enrollment_of(uow, waiting)).schedule_sessions()
                    if s.counts)
        await commands.record_attendance(uow, waiting, held.session_id,
                                         AttendanceStatus.ATTENDED, 0)
    before = {table: await rows(pool, table) for table in DERIVED}
    assert [r["status"] for r in before["enrollments"]].count("ended") == 1

    async with pool.acquire() as conn, conn.transaction():
        for table in reversed(DERIVED):  # groups before their programs
            await conn.execute(f"DELETE FROM {table}")
        for recorded in await store.EVENTS.read_all(conn, limit=10_000):
            await read_models.project(conn, parse_event(recorded.envelope), recorded.envelope)
    assert {table: await rows(pool, table) for table in DERIVED} == before


def _interventions(**per_week: int) -> list[PlannedIntervention]:
    return [PlannedIntervention(intervention_id=f"I{n}", modality=Modality(m),
                                sessions_per_week=k)
            for n, (m, k) in enumerate(per_week.items(), start=1)]


async def test_a_forgotten_patient_leaves_no_row_and_nothing_more_is_recorded(
    pool: asyncpg.Pool,
) -> None:
    patient_id, other = await admit(pool), await admit(pool)
    await consume(pool, PlanDrafted(
        patient_id=patient_id, site_id=SITE, plan_id="plan-1", problem_codes=["depression"],
        interventions=_interventions(group_therapy=1, psychoeducation=1, mindfulness=1),
        target_date=START + timedelta(days=56), clinician_id="clin-7"), "plans")
    monday = datetime.combine(START + timedelta(days=7), time(15), tzinfo=UTC)
    assert await weekly_review.review_due_enrollments(pool, monday) == 2
    tables = [r["table_name"] for r in await pool.fetch(
        "SELECT table_name FROM information_schema.columns"
        " WHERE table_schema = 'public' AND column_name = 'patient_id'")]
    assert {"enrollments", "patient_sessions", "treatment_plans", "week_reviews"} <= set(tables)

    await consume(pool, PatientForgotten(patient_id=patient_id, site_id=SITE), "intake")
    for table in tables:
        assert await pool.fetchval(f"SELECT count(*) FROM {table} WHERE patient_id = $1",
                                   patient_id) == 0, table
    assert await pool.fetchval("SELECT count(*) FROM enrollments WHERE patient_id = $1",
                               other) == 1
    # Whatever arrives later for the patient records nothing and writes no row.
    stream = f"enrollment-{patient_id}"
    version = await pool.fetchval("SELECT version FROM event_streams WHERE stream_id = $1",
                                  stream)
    await consume(pool, PlanRevised(
        patient_id=patient_id, site_id=SITE, plan_id="plan-1", revision=2,
        changes=["removed:I3"], reason=RevisionReason.LACK_OF_PROGRESS,
        interventions=_interventions(group_therapy=1, psychoeducation=1)), "plans",
        at=monday)
    await consume(pool, SteppedDown(patient_id=patient_id, site_id=SITE,
                                    effective_on=START + timedelta(days=20), aftercare=[],
                                    follow_up_within_days=7), "plans", at=monday)
    assert await pool.fetchval("SELECT version FROM event_streams WHERE stream_id = $1",
                               stream) == version
    assert await pool.fetchval("SELECT count(*) FROM patient_sessions WHERE patient_id = $1",
                               patient_id) == 0
    assert await weekly_review.review_due_enrollments(pool, monday + timedelta(days=1)) == 1
