"""Sessions' event store is the source of truth: programs and enrollment terms are private
events, every derived table can be rebuilt from the events, and a forgotten patient leaves
no row behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import asyncpg
import pytest

from iopnet.catalog import (
    PatientForgotten,
    PlanDrafted,
    PlanRevised,
    RevisionReason,
    SteppedDown,
)
from iopnet.eventstore import Cause
from iopnet.topics import topic_of
from services.sessions import commands, weekly_review
from services.sessions.domain import AttendanceStatus
from tests.conftest import FreshDatabase
from tests.integration.sessions_helpers import (
    BEFORE_START,
    SITE,
    START,
    admitted,
    interventions,
    project,
    rebuild,
    sessions_database,
)

pytestmark = pytest.mark.integration

DERIVED = {  # table → its key columns, for comparing rows
    "programs": "site_id, program_id",
    "program_groups": "site_id, group_id",
    "enrollments": "patient_id",
    "patient_sessions": "session_id, patient_id",
}


@pytest.fixture
async def pool(fresh_database: FreshDatabase) -> AsyncIterator[asyncpg.Pool]:
    pool = await sessions_database(fresh_database)
    yield pool
    await pool.close()


async def rows(pool: asyncpg.Pool, table: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(f"SELECT * FROM {table} ORDER BY {DERIVED[table]}")]


async def test_programs_and_terms_are_private_events_and_never_published(
    pool: asyncpg.Pool,
) -> None:
    await admitted(pool)
    private = await pool.fetch("SELECT event_type, published, topic FROM events"
                               " WHERE event_type IN ('iopnet.ProgramDefined',"
                               " 'iopnet.GroupAdded', 'iopnet.EnrollmentOpened')")
    assert sorted(r["event_type"] for r in private) == [
        "iopnet.EnrollmentOpened", *["iopnet.GroupAdded"] * 4, "iopnet.ProgramDefined"]
    assert {(r["published"], r["topic"]) for r in private} == {(False, None)}
    published = await pool.fetch("SELECT envelope->>'type' AS type FROM outbox")
    assert {r["type"] for r in published} == {"iopnet.SessionScheduled"}
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE topic <> $1",
                               topic_of("sessions")) == 0


async def test_every_derived_table_is_rebuilt_from_the_events_alike(pool: asyncpg.Pool) -> None:
    holder, waiting = await admitted(pool), await admitted(pool)  # g-mon holds one: waiting waits
    await project(pool, SteppedDown(patient_id=holder, site_id=SITE,
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
        await rebuild(conn, list(DERIVED))
    assert {table: await rows(pool, table) for table in DERIVED} == before


async def test_a_forgotten_patient_leaves_no_row_and_nothing_more_is_recorded(
    pool: asyncpg.Pool,
) -> None:
    patient_id, other = await admitted(pool), await admitted(pool)
    await project(pool, PlanDrafted(
        patient_id=patient_id, site_id=SITE, plan_id="plan-1", problem_codes=["depression"],
        interventions=interventions(group_therapy=1, psychoeducation=1, mindfulness=1),
        target_date=START + timedelta(days=56), clinician_id="clin-7"), "plans")
    monday = datetime.combine(START + timedelta(days=7), time(15), tzinfo=UTC)
    assert await weekly_review.review_due_enrollments(pool, monday) == 2
    tables = [r["table_name"] for r in await pool.fetch(
        "SELECT table_name FROM information_schema.columns"
        " WHERE table_schema = 'public' AND column_name = 'patient_id'")]
    assert {"enrollments", "patient_sessions", "treatment_plans", "week_reviews"} <= set(tables)

    await project(pool, PatientForgotten(patient_id=patient_id, site_id=SITE), "intake")
    for table in tables:
        assert await pool.fetchval(f"SELECT count(*) FROM {table} WHERE patient_id = $1",
                                   patient_id) == 0, table
    assert await pool.fetchval("SELECT count(*) FROM enrollments WHERE patient_id = $1",
                               other) == 1
    # Whatever arrives later for the patient records nothing and writes no row.
    stream = f"enrollment-{patient_id}"
    version = await pool.fetchval("SELECT version FROM event_streams WHERE stream_id = $1",
                                  stream)
    await project(pool, PlanRevised(
        patient_id=patient_id, site_id=SITE, plan_id="plan-1", revision=2,
        changes=["removed:I3"], reason=RevisionReason.LACK_OF_PROGRESS,
        interventions=interventions(group_therapy=1, psychoeducation=1)), "plans",
        at=monday)
    await project(pool, SteppedDown(patient_id=patient_id, site_id=SITE,
                                    effective_on=START + timedelta(days=20), aftercare=[],
                                    follow_up_within_days=7), "plans", at=monday)
    assert await pool.fetchval("SELECT version FROM event_streams WHERE stream_id = $1",
                               stream) == version
    for table in tables:
        assert await pool.fetchval(f"SELECT count(*) FROM {table} WHERE patient_id = $1",
                                   patient_id) == 0, table
    assert await weekly_review.review_due_enrollments(pool, monday + timedelta(days=1)) == 1
