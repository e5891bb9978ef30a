"""Sessions' event store is the source of truth: programs and enrollment terms are private
events, every derived table can be rebuilt from the events, and a forgotten patient leaves
no row behind."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

import asyncpg
import pytest

from iopnet.catalog import (
    PatientForgotten,
    PlanDrafted,
    PlanRevised,
    RevisionReason,
    SessionScheduled,
    SessionsScheduled,
    SteppedDown,
    parse_event,
)
from iopnet.eventstore import Cause
from iopnet.topics import topic_of
from services.sessions import commands, store, weekly_review
from services.sessions.domain import AttendanceStatus, Enrollment
from services.sessions.domain.enrollment import opened
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
    assert [r["type"] for r in published] == ["iopnet.SessionsScheduled"]
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


async def test_a_stream_of_one_event_a_session_reads_and_projects_as_its_schedule(
    pool: asyncpg.Pool,
) -> None:
    """Streams of earlier releases hold one SessionScheduled a session: the aggregate and
    the projection read them as the SessionsScheduled recorded now."""
    patient_id, old_patient = await admitted(pool), str(uuid.uuid4())
    async with pool.acquire() as conn, conn.transaction():
        uow = commands.unit_of_work(conn, Cause("req", "req"))
        enrollment = await commands.enrollment_of(uow, patient_id)
        [schedule] = [parse_event(e) for e in await store.EVENTS.read_stream(
            conn, enrollment.stream_id) if e.type == SessionsScheduled.event_type]
        assert isinstance(schedule, SessionsScheduled)
        old = Enrollment(old_patient)
        old.record(opened(replace(enrollment.known_terms, patient_id=old_patient)))
        for part in schedule.sessions:
            old.record(SessionScheduled(site_id=SITE, patient_id=old_patient,
                                        **part.model_dump()))
        await uow.save(old)

    async def schedule_rows(of: str) -> list[dict[str, Any]]:
        return [dict(r) for r in await pool.fetch(
            "SELECT session_id, site_id, kind, modality, group_id, starts_at, duration_minutes,"
            " clinician_id, waitlisted, status FROM patient_sessions WHERE patient_id = $1"
            " ORDER BY session_id", of)]

    assert len(await schedule_rows(old_patient)) == len(schedule.sessions) == 32
    assert await schedule_rows(old_patient) == await schedule_rows(patient_id)
    assert await pool.fetchval("SELECT status FROM enrollments WHERE patient_id = $1",
                               old_patient) == "scheduled"
    async with pool.acquire() as conn, conn.transaction():
        uow = commands.unit_of_work(conn, Cause("req", "req"))
        replayed = await commands.enrollment_of(uow, old_patient)
        assert replayed.version == 1 + 32
        assert replayed.schedule_sessions() == enrollment.schedule_sessions()
        await commands.record_attendance(uow, old_patient,
                                         replayed.schedule_sessions()[0].session_id,
                                         AttendanceStatus.ATTENDED, 0)
    before = await schedule_rows(old_patient)
    async with pool.acquire() as conn, conn.transaction():
        await rebuild(conn, list(DERIVED))
    assert await schedule_rows(old_patient) == before


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
