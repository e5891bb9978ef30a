"""Sessions on a real Postgres, for its integration tests: a migrated database with a
site and a program of four weekly groups, and others' events consumed as the worker
consumes them (projectors, then reactions)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

import asyncpg

from iopnet.catalog import (
    DomainEvent,
    Modality,
    PatientAdmitted,
    PlannedIntervention,
    parse_event,
)
from iopnet.db import Connection, create_pool
from iopnet.envelope import EventEnvelope
from iopnet.eventstore import Cause, EventStore
from services.sessions import commands, projections
from services.sessions.domain import Group
from services.sessions.service import SPEC
from tests.conftest import FreshDatabase
from tests.fixtures.dates import program_start

SITE = "site-n"
START = program_start()  # a Monday in January, ahead of the real today: Chicago is on CST
GROUPS = [
    Group(SITE, "iop", "g-mon", Modality.GROUP_THERAPY, "clin-1", 0, time(9), 180, 1),
    Group(SITE, "iop", "g-tue", Modality.PSYCHOEDUCATION, "clin-2", 1, time(9), 180, 8),
    Group(SITE, "iop", "g-wed", Modality.MINDFULNESS, "clin-3", 2, time(9), 180, 8),
    Group(SITE, "iop", "g-thu", Modality.SKILL_BUILDING, "clin-4", 3, time(9), 180, 8),
]
REQUEST = Cause("req", "req")


def on(days: int) -> date:
    """The date ``days`` after the program's first day."""
    return START + timedelta(days=days)


def at_utc(days: int, hour: int) -> datetime:
    """``hour`` o'clock UTC on ``on(days)`` (09:00 in Chicago is 15:00 UTC)."""
    return datetime.combine(on(days), time(hour), tzinfo=UTC)


BEFORE_START = at_utc(-34, 0)


async def sessions_database(fresh_database: FreshDatabase) -> asyncpg.Pool:
    _, pool = await sessions_database_at(fresh_database)
    return pool


async def sessions_database_at(fresh_database: FreshDatabase) -> tuple[str, asyncpg.Pool]:
    """A sessions database with a site, a program and its groups: its DSN and a pool."""
    dsn = await fresh_database("sessions")
    await SPEC.migrate(dsn)
    pool = await create_pool(dsn)
    await pool.execute("INSERT INTO sites (site_id, name, time_zone, policies)"
                       " VALUES ($1, 'North', 'America/Chicago', '{}')", SITE)
    await define_program(pool, "iop", "Adult IOP")
    for group in GROUPS:
        await add_group_and_schedule(pool, group)
    return dsn, pool


async def define_program(pool: asyncpg.Pool, program_id: str, name: str) -> None:
    """What POST /v1/programs does, in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        await commands.define_program(commands.unit_of_work(conn, REQUEST), SITE, program_id,
                                      name, BEFORE_START)


async def add_group_and_schedule(pool: asyncpg.Pool, group: Group,
                                 now: datetime = BEFORE_START) -> bool:
    """What POST /v1/programs/{id}/groups does, in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        added = await commands.add_group(commands.unit_of_work(conn, REQUEST), group, now)
        return added.created


def envelope(event: DomainEvent, source: str, at: datetime | None = None) -> EventEnvelope:
    events = EventStore(source=f"/iopnet/{source}", topic="unused")
    made = events.envelopes(f"x-{uuid.uuid4()}", 0, [event], Cause("c", "c"))[0]
    return made.model_copy(update={"time": at}) if at else made


async def project(pool: asyncpg.Pool, event: DomainEvent, source: str,
                  at: datetime | None = None) -> None:
    """What the worker does with a consumed event: its projectors, then its reactions."""
    made = envelope(event, source, at)
    projection = SPEC.consumer_projection()
    assert projection is not None
    projector = projection.projector_for(made)
    assert projector is not None
    async with pool.acquire() as conn, conn.transaction():
        await projector(conn, event, made)


def admission(patient_id: str, days_per_week: int = 3) -> PatientAdmitted:
    return PatientAdmitted(patient_id=patient_id, site_id=SITE, program_id="iop",
                           start_date=START, days_per_week=days_per_week, planned_weeks=8,
                           clinician_id="clin-7", baseline_phq9=18)


async def admitted(pool: asyncpg.Pool, days_per_week: int = 3) -> str:
    patient_id = str(uuid.uuid4())
    await project(pool, admission(patient_id, days_per_week), "intake")
    return patient_id


def interventions(**per_week: int) -> list[PlannedIntervention]:
    return [PlannedIntervention(intervention_id=f"I{n}", modality=Modality(m),
                                sessions_per_week=k)
            for n, (m, k) in enumerate(per_week.items(), start=1)]


async def rebuild(conn: Connection, tables: Sequence[str]) -> None:
    """Empty ``tables`` (listed parents first) and project sessions' own events again, in
    the order they were recorded. (Sessions seals nothing, so the stored envelopes are the
    events as recorded; ``read_all`` would wait for every transaction in flight on the
    shared server.)"""
    for table in reversed(tables):
        await conn.execute(f"DELETE FROM {table}")
    for row in await conn.fetch("SELECT envelope FROM events ORDER BY global_position"):
        recorded = EventEnvelope.model_validate(row["envelope"])
        await projections.project(conn, parse_event(recorded), recorded)
