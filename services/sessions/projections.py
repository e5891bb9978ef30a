"""Sessions' derived tables, written from its own events in the transaction that records
them. Every value comes from the event and its envelope (its time included), so a
rebuild from the event store writes the same rows."""

from __future__ import annotations

from iopnet.catalog import (
    DomainEvent,
    ScheduleRefused,
    SessionAttended,
    SessionMissed,
    SessionsCancelled,
    SessionScheduled,
    SessionsScheduled,
    schedule_of,
)
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from services.sessions.domain import (
    EnrollmentDaysChanged,
    EnrollmentEnded,
    EnrollmentOpened,
    EnrollmentTransferred,
    GroupAdded,
    ProgramDefined,
)
from services.sessions.domain.enrollment import terms_opened
from services.sessions.domain.schedule import HOURS_PER_PROGRAM_DAY

#: What the enrollment's view shows of a refusal.
REFUSAL_FIELDS = {"level", "days_per_week", "planned_weekly_hours", "minimum_hours",
                  "below_hours"}

#: Every table of sessions' own written by projections only (its own events' and the plans
#: it consumes): what a rebuild rebuilds. week_reviews is the calendar job's bookkeeping.
DERIVED_TABLES = ("programs", "program_groups", "enrollments", "patient_sessions",
                  "treatment_plans")


async def project(conn: Connection, event: DomainEvent, envelope: EventEnvelope) -> None:
    match event:
        case ProgramDefined() | GroupAdded():
            await _project_program(conn, event, envelope)
        case EnrollmentOpened() | EnrollmentEnded() | EnrollmentTransferred():
            await _project_terms(conn, event, envelope)
        case EnrollmentDaysChanged():
            await conn.execute(
                "UPDATE enrollments SET days_per_week = $2, weekly_hours_target = $3,"
                " updated_at = $4 WHERE patient_id = $1",
                event.patient_id, event.days_per_week,
                event.days_per_week * HOURS_PER_PROGRAM_DAY, envelope.time)
        case SessionScheduled() | SessionsScheduled():
            await _project_scheduled(conn, schedule_of(event), envelope)
        case ScheduleRefused():
            await conn.execute(
                "UPDATE enrollments SET status = 'schedule_refused', schedule_refusal = $2,"
                " updated_at = $3 WHERE patient_id = $1"
                " AND status IN ('awaiting_schedule', 'schedule_refused')",
                event.patient_id, event.model_dump(mode="json", include=REFUSAL_FIELDS),
                envelope.time)
        case SessionsCancelled():
            await conn.execute(
                "UPDATE patient_sessions SET status = 'cancelled'"
                " WHERE patient_id = $1 AND session_id = ANY($2::uuid[])",
                event.patient_id, event.session_ids,
            )
        case SessionAttended():
            await _set_attendance(conn, event.patient_id, event.session_id,
                                  "late" if event.late_minutes else "attended",
                                  event.late_minutes, event.credited_minutes)
        case SessionMissed():
            await _set_attendance(conn, event.patient_id, event.session_id,
                                  "excused" if event.excused else "absent", 0, 0)


async def _project_program(conn: Connection, event: ProgramDefined | GroupAdded,
                           envelope: EventEnvelope) -> None:
    if isinstance(event, ProgramDefined):
        await conn.execute(
            "INSERT INTO programs (site_id, program_id, name, created_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            event.site_id, event.program_id, event.name, envelope.time)
        return
    await conn.execute(
        "INSERT INTO program_groups (site_id, group_id, program_id, modality, clinician_id,"
        " weekday, starts_at, duration_minutes, capacity, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
        event.site_id, event.group_id, event.program_id, event.modality.value,
        event.clinician_id, event.weekday, event.starts_at, event.duration_minutes,
        event.capacity, envelope.time,
    )


async def _project_terms(conn: Connection,
                         event: EnrollmentOpened | EnrollmentEnded | EnrollmentTransferred,
                         envelope: EventEnvelope) -> None:
    match event:
        case EnrollmentOpened():
            terms = terms_opened(event)
            await conn.execute(
                "INSERT INTO enrollments (patient_id, site_id, program_id, days_per_week,"
                " weekly_hours_target, starts_on, ends_on, status, clinician_id, time_zone,"
                " baseline_phq9, enrolled_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7,"
                # Sessions come first in a stream upgraded from the previous release.
                " CASE WHEN EXISTS (SELECT FROM patient_sessions WHERE patient_id = $1)"
                " THEN 'scheduled' ELSE 'awaiting_schedule' END,"
                " $8, $9, $10, $11, $11) ON CONFLICT (patient_id) DO NOTHING",
                terms.patient_id, terms.site_id, terms.program_id, terms.days_per_week,
                terms.weekly_hours_target, terms.starts_on, terms.ends_on,
                terms.clinician_id or None, terms.time_zone, terms.baseline_phq9, envelope.time,
            )
        case EnrollmentEnded():
            await conn.execute(
                "UPDATE enrollments SET status = 'ended', ended_on = $2, end_reason = $3,"
                " updated_at = $4 WHERE patient_id = $1 AND ended_on IS NULL",
                event.patient_id, event.ended_on, event.reason, envelope.time)
        case EnrollmentTransferred():
            await conn.execute("UPDATE enrollments SET site_id = $2 WHERE patient_id = $1",
                               event.patient_id, event.site_id)


async def _project_scheduled(conn: Connection, event: SessionsScheduled,
                             envelope: EventEnvelope) -> None:
    await conn.executemany(
        "INSERT INTO patient_sessions (session_id, patient_id, site_id, kind, modality,"
        " group_id, starts_at, duration_minutes, clinician_id, waitlisted, status,"
        " waitlisted_since)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
        " CASE WHEN $10 THEN $12::timestamptz END)"
        " ON CONFLICT (session_id, patient_id) DO UPDATE SET"
        " waitlisted = excluded.waitlisted, status = excluded.status,"
        # Still waitlisted keeps the place in the queue; waitlisted anew joins its end.
        " waitlisted_since = CASE WHEN patient_sessions.status = 'waitlisted'"
        " AND excluded.waitlisted THEN patient_sessions.waitlisted_since"
        " ELSE excluded.waitlisted_since END",
        [(s.session_id, event.patient_id, event.site_id, s.kind.value, s.modality.value,
          s.group_id, s.starts_at, s.duration_minutes, s.clinician_id, s.waitlisted,
          "waitlisted" if s.waitlisted else "scheduled", envelope.time)
         for s in event.sessions],
    )
    await conn.execute(
        "UPDATE enrollments SET status = 'scheduled', schedule_refusal = NULL, updated_at = $2"
        " WHERE patient_id = $1 AND status IN ('awaiting_schedule', 'schedule_refused')",
        event.patient_id, envelope.time)


async def _set_attendance(conn: Connection, patient_id: str, session_id: str, status: str,
                          late_minutes: int, credited_minutes: int) -> None:
    await conn.execute(
        "UPDATE patient_sessions SET status = $3, late_minutes = $4, credited_minutes = $5"
        " WHERE patient_id = $1 AND session_id = $2",
        patient_id, session_id, status, late_minutes, credited_minutes,
    )
