"""Rows of the previous release recorded as events: programs and their groups, and the
terms of each enrollment (that release kept them only in tables).

The derived rows are already there, so nothing is projected; each event takes the time
its row was written (``created_at``; an enrollment's ``enrolled_at``, which orders the
patients waiting for a program's groups), so a rebuild writes the same rows.
Streams that already hold the facts are left alone; on a new database there are no rows.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from iopnet.catalog import DomainEvent, Modality
from iopnet.eventstore import Cause
from iopnet.migrate import DataUpgrade
from services.sessions.domain import (
    Enrollment,
    EnrollmentEnded,
    EnrollmentOpened,
    EnrollmentTerms,
    Group,
    Program,
)
from services.sessions.domain.enrollment import opened
from services.sessions.store import EVENTS

CAUSE = Cause("upgrade/sessions-facts-in-events", "upgrade/sessions-facts-in-events")


async def _dated(conn: asyncpg.Connection, event_id: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE events SET envelope = jsonb_set(envelope, '{time}', to_jsonb($2::timestamptz))"
        " WHERE event_id = $1", event_id, at)


async def _recorded(conn: asyncpg.Connection, stream_id: str) -> bool:
    return bool(await conn.fetchval("SELECT true FROM event_streams WHERE stream_id = $1",
                                    stream_id))


async def record_programs(conn: asyncpg.Connection) -> None:
    for row in await conn.fetch("SELECT site_id, program_id, name, created_at FROM programs"
                                " ORDER BY created_at, site_id, program_id"):
        program = Program(Program.key(row["site_id"], row["program_id"]))
        if await _recorded(conn, program.stream_id):
            continue
        program.define(row["name"])
        groups = await conn.fetch(
            "SELECT site_id, program_id, group_id, modality, clinician_id, weekday, starts_at,"
            " duration_minutes, capacity, created_at FROM program_groups"
            " WHERE site_id = $1 AND program_id = $2 ORDER BY created_at, group_id",
            row["site_id"], row["program_id"])
        for group in groups:
            fields = {k: v for k, v in dict(group).items() if k != "created_at"}
            program.add_group(Group(**{**fields, "modality": Modality(group["modality"])}))
        times = [row["created_at"], *(group["created_at"] for group in groups)]
        envelopes = await EVENTS.append(conn, program.stream_id, 0, program.pending, CAUSE)
        for envelope, at in zip(envelopes, times, strict=True):
            await _dated(conn, envelope.id, at)


async def record_enrollment_terms(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch(
        "SELECT patient_id::text AS patient_id, site_id, program_id, clinician_id, starts_on,"
        " ends_on, days_per_week, time_zone, baseline_phq9, ended_on, end_reason, enrolled_at"
        " FROM enrollments ORDER BY enrolled_at, patient_id")
    for row in rows:
        stream_id = Enrollment(row["patient_id"]).stream_id
        history = await EVENTS.read_stream(conn, stream_id)
        if any(e.type == EnrollmentOpened.event_type for e in history):
            continue
        terms = EnrollmentTerms(
            patient_id=row["patient_id"], site_id=row["site_id"],
            program_id=row["program_id"], clinician_id=row["clinician_id"] or "",
            starts_on=row["starts_on"], days_per_week=row["days_per_week"],
            planned_weeks=(row["ends_on"] - row["starts_on"]).days // 7,
            time_zone=row["time_zone"], baseline_phq9=row["baseline_phq9"])
        events: list[DomainEvent] = [opened(terms)]
        if row["ended_on"] is not None:
            events.append(EnrollmentEnded(site_id=row["site_id"], patient_id=row["patient_id"],
                                          ended_on=row["ended_on"],
                                          reason=row["end_reason"] or "ended"))
        envelopes = await EVENTS.append(conn, stream_id, len(history), events, CAUSE)
        await _dated(conn, envelopes[0].id, row["enrolled_at"])


async def record_facts(conn: asyncpg.Connection) -> None:
    await record_programs(conn)
    await record_enrollment_terms(conn)


UPGRADES = [DataUpgrade("sessions/facts-in-events", record_facts)]
