"""A sessions database of the previous release: its programs, groups and enrollment terms
(rows only, then) become events, and reads, commands and rebuilds work on them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import asyncpg
import pytest

from iopctl.stack import spec_of
from iopnet.catalog import Modality, SessionKind, SessionScheduled
from iopnet.db import connect, create_pool
from iopnet.eventstore import Cause, EventStore
from services.sessions import commands
from services.sessions.domain import Group
from services.sessions.domain.schedule import group_session_id, local_to_utc
from tests.conftest import FreshDatabase
from tests.fixtures import previous_release
from tests.fixtures.dates import program_start
from tests.integration.sessions_helpers import rebuild

pytestmark = pytest.mark.integration

SITE, ZONE = "site-n", "America/Chicago"
START = program_start()
CREATED = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
MONDAY = Group(SITE, "iop", "g-mon", Modality.GROUP_THERAPY, "clin-1", 0, time(9), 180, 1)
TUESDAY = Group(SITE, "iop", "g-tue", Modality.PSYCHOEDUCATION, "clin-2", 1, time(9), 180, 8)
SCHEDULED, WAITING, ENDED = (str(uuid.uuid4()) for _ in range(3))


@pytest.fixture
async def dsn(fresh_empty_database: FreshDatabase) -> str:
    dsn = await fresh_empty_database("upgrade_sessions_facts")
    await previous_release.build_database(dsn, "sessions")
    conn = await connect(dsn)
    try:
        await write_as_the_previous_release(conn)
    finally:
        await conn.close()
    return dsn


@pytest.fixture
async def pool(dsn: str) -> AsyncIterator[asyncpg.Pool]:
    applied = await spec_of("sessions").migrate(dsn)
    assert "sessions/005_facts_in_events.sql" in applied
    assert applied[-1] == "upgrade/sessions/facts-in-events"
    pool = await create_pool(dsn)
    yield pool
    await pool.close()


async def write_as_the_previous_release(conn: asyncpg.Connection) -> None:
    """Rows as e079311 wrote them: programs and groups by the API, terms by the admission's
    projector, sessions as events and their read model."""
    await conn.execute("INSERT INTO sites (site_id, name, time_zone, policies)"
                       " VALUES ($1, 'North', $2, '{}')", SITE, ZONE)
    for program_id, name, at in (("iop", "Adult IOP", CREATED),
                                 ("new", "Second cohort", CREATED + timedelta(days=1))):
        await conn.execute("INSERT INTO programs (site_id, program_id, name, created_at)"
                           " VALUES ($1, $2, $3, $4)", SITE, program_id, name, at)
    for n, g in enumerate((MONDAY, TUESDAY)):
        await conn.execute(
            "INSERT INTO program_groups (site_id, group_id, program_id, modality, clinician_id,"
            " weekday, starts_at, duration_minutes, capacity, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            g.site_id, g.group_id, g.program_id, g.modality.value, g.clinician_id, g.weekday,
            g.starts_at, g.duration_minutes, g.capacity, CREATED + timedelta(minutes=n + 1))
    for n, (patient_id, program_id, status) in enumerate((
            (ENDED, "iop", "ended"), (SCHEDULED, "iop", "scheduled"),
            (WAITING, "new", "awaiting_schedule"))):
        await conn.execute(
            "INSERT INTO enrollments (patient_id, site_id, program_id, days_per_week,"
            " weekly_hours_target, starts_on, ends_on, status, clinician_id, time_zone,"
            " baseline_phq9, enrolled_at) VALUES ($1, $2, $3, 3, 9, $4, $5, $6, 'clin-7', $7,"
            " 18, $8)",
            patient_id, SITE, program_id, START, START + timedelta(weeks=8), status, ZONE,
            CREATED + timedelta(days=2, minutes=n))
    await conn.execute("UPDATE enrollments SET ended_on = $2, end_reason = 'SteppedDown'"
                       " WHERE patient_id = $1", ENDED, START + timedelta(days=3))
    await conn.execute("UPDATE enrollments SET weeks_reviewed_on = $2 WHERE patient_id = $1",
                       SCHEDULED, START + timedelta(days=7))
    await _record_sessions(conn, SCHEDULED, [_session(SCHEDULED, MONDAY), _session(SCHEDULED,
                                                                                   TUESDAY)])


def _session(patient_id: str, group: Group) -> SessionScheduled:
    day = START + timedelta(days=group.weekday)
    return SessionScheduled(
        site_id=SITE, patient_id=patient_id, session_id=group_session_id(group, day),
        kind=SessionKind.GROUP, modality=group.modality, group_id=group.group_id,
        starts_at=local_to_utc(day, group.starts_at, ZONE),
        duration_minutes=group.duration_minutes, clinician_id=group.clinician_id)


async def _record_sessions(conn: asyncpg.Connection, patient_id: str,
                           events: list[SessionScheduled]) -> None:
    stream_id = f"enrollment-{patient_id}"
    envelopes = EventStore.of("sessions").envelopes(stream_id, 0, events, Cause("c", "c"))
    await conn.execute("INSERT INTO event_streams (stream_id, version) VALUES ($1, $2)",
                       stream_id, len(events))
    for event, envelope in zip(events, envelopes, strict=True):
        await conn.execute(
            "INSERT INTO events (event_id, stream_id, stream_version, event_type, envelope)"
            " VALUES ($1, $2, $3, $4, $5)", envelope.id, stream_id, envelope.streamversion,
            envelope.type, envelope.model_dump(mode="json"))
        await conn.execute(
            "INSERT INTO patient_sessions (session_id, patient_id, site_id, kind, modality,"
            " group_id, starts_at, duration_minutes, clinician_id, waitlisted, status)"
            " VALUES ($1, $2, $3, 'group', $4, $5, $6, $7, $8, false, 'scheduled')",
            event.session_id, patient_id, SITE, event.modality.value, event.group_id,
            event.starts_at, event.duration_minutes, event.clinician_id)


async def history(pool: asyncpg.Pool, stream_id: str) -> list[tuple[str, bool, datetime]]:
    rows = await pool.fetch(
        "SELECT event_type, published, (envelope->>'time')::timestamptz AS at FROM events"
        " WHERE stream_id = $1 ORDER BY stream_version", stream_id)
    return [(r["event_type"].removeprefix("iopnet."), r["published"], r["at"]) for r in rows]


async def test_programs_groups_and_terms_become_private_events(pool: asyncpg.Pool) -> None:
    program = await history(pool, f"program-{SITE}/iop")
    assert [(t, p) for t, p, _ in program] == [
        ("ProgramDefined", False), ("GroupAdded", False), ("GroupAdded", False)]
    assert [at for _, _, at in program] == [CREATED + timedelta(minutes=n) for n in range(3)]
    scheduled = await history(pool, f"enrollment-{SCHEDULED}")
    assert [t for t, _, _ in scheduled] == ["SessionScheduled", "SessionScheduled",
                                            "EnrollmentOpened"]
    assert scheduled[-1][2] == CREATED + timedelta(days=2, minutes=1)  # its enrolled_at
    assert [t for t, _, _ in await history(pool, f"enrollment-{ENDED}")] == [
        "EnrollmentOpened", "EnrollmentEnded"]
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
    assert await pool.fetchval("SELECT reviewed_on FROM week_reviews WHERE patient_id = $1",
                               SCHEDULED) == START + timedelta(days=7)

    async with pool.acquire() as conn:
        uow = commands.unit_of_work(conn, Cause("read", "read"))
        enrollment = await commands.enrollment_of(uow, SCHEDULED)
        ended = await commands.enrollment_of(uow, ENDED)
    assert (enrollment.known_terms.planned_weeks, enrollment.known_terms.time_zone,
            enrollment.known_terms.baseline_phq9, len(enrollment.sessions)) == (8, ZONE, 18, 2)
    assert (ended.known_terms.ended_on, ended.end_reason) == (START + timedelta(days=3),
                                                              "SteppedDown")


async def rows(pool: asyncpg.Pool, table: str, order: str) -> list[dict[str, Any]]:
    found = [dict(r) for r in await pool.fetch(f"SELECT * FROM {table} ORDER BY {order}")]
    return [{k: v for k, v in r.items() if k != "updated_at"} for r in found]


async def test_commands_work_on_upgraded_streams_and_tables_rebuild_alike(
    pool: asyncpg.Pool,
) -> None:
    # Three days of 3-hour groups make an IOP week (10 hours); one or two are refused.
    before_start = datetime.combine(START - timedelta(days=20), time(12), tzinfo=UTC)
    for weekday, modality in enumerate([Modality.MINDFULNESS, Modality.CBT,
                                        Modality.SKILL_BUILDING], start=2):
        group = Group(SITE, "new", f"n-{weekday}", modality, "clin-3", weekday, time(9), 180,
                      8)
        async with pool.acquire() as conn, conn.transaction():
            added = await commands.add_group(commands.unit_of_work(conn, Cause("r", "r")),
                                             group, before_start)
        assert added.created
    waiting = await history(pool, f"enrollment-{WAITING}")
    assert [kind for kind, *_ in waiting[:3]] == [
        "EnrollmentOpened", "ScheduleRefused", "ScheduleRefused"]
    assert [kind for kind, *_ in waiting[3:]] == ["SessionsScheduled"]  # the 3 * 8 + 8

    tables = {"programs": "site_id, program_id", "program_groups": "site_id, group_id",
              "enrollments": "patient_id"}
    before = {t: await rows(pool, t, order) for t, order in tables.items()}
    async with pool.acquire() as conn, conn.transaction():
        await rebuild(conn, ["programs", "program_groups", "enrollments", "patient_sessions"])
    assert {t: await rows(pool, t, order) for t, order in tables.items()} == before
