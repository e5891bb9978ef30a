"""Sessions' adapters: programs and groups, enrollments (the aggregate and its read models)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import asyncpg

from iopnet.aggregate import Repository
from iopnet.auth.registry import site_policies
from iopnet.catalog import (
    DomainEvent,
    Modality,
    SessionAttended,
    SessionMissed,
    SessionsCancelled,
    SessionScheduled,
)
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.eventstore import EventStore
from services.sessions.domain import (
    AttendancePolicy,
    Enrollment,
    EnrollmentTerms,
    Group,
    Program,
)

EVENTS = EventStore.of("sessions")

# Programs and groups --------------------------------------------------------------------


async def find_program(conn: Connection, site_id: str, program_id: str) -> Program | None:
    row = await conn.fetchrow(
        "SELECT site_id, program_id, name FROM programs WHERE site_id = $1 AND program_id = $2",
        site_id, program_id,
    )
    return Program(**dict(row)) if row else None


async def add_program(conn: Connection, program: Program) -> None:
    await conn.execute("INSERT INTO programs (site_id, program_id, name) VALUES ($1, $2, $3)",
                       program.site_id, program.program_id, program.name)


async def list_programs(conn: Connection) -> list[Program]:
    rows = await conn.fetch("SELECT site_id, program_id, name FROM programs"
                            " ORDER BY site_id, program_id")
    return [Program(**dict(row)) for row in rows]


_GROUP_COLUMNS = ("site_id, group_id, program_id, modality, clinician_id, weekday, starts_at,"
                  " duration_minutes, capacity")


def _group(row: asyncpg.Record) -> Group:
    return Group(**{**dict(row), "modality": Modality(row["modality"])})


async def find_group(conn: Connection, site_id: str, group_id: str) -> Group | None:
    row = await conn.fetchrow(
        f"SELECT {_GROUP_COLUMNS} FROM program_groups WHERE site_id = $1 AND group_id = $2",
        site_id, group_id,
    )
    return _group(row) if row else None


async def add_group(conn: Connection, group: Group) -> None:
    await conn.execute(
        f"INSERT INTO program_groups ({_GROUP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
        " $9)",
        group.site_id, group.group_id, group.program_id, group.modality.value,
        group.clinician_id, group.weekday, group.starts_at, group.duration_minutes,
        group.capacity,
    )


async def groups_of(conn: Connection, site_id: str, program_id: str) -> list[Group]:
    rows = await conn.fetch(
        f"SELECT {_GROUP_COLUMNS} FROM program_groups WHERE site_id = $1 AND program_id = $2"
        " ORDER BY weekday, starts_at, group_id",
        site_id, program_id,
    )
    return [_group(row) for row in rows]


async def hold_groups(conn: Connection, groups: Iterable[Group]) -> None:
    """Serialize enrollments into the same groups until this transaction ends, so two
    admissions cannot both take a group's last place."""
    keys = sorted({f"{g.site_id}/{g.program_id}/{g.group_id}" for g in groups})
    for key in keys:
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)


async def hold_program(conn: Connection, site_id: str, program_id: str) -> None:
    """Serialize adding a group to a program with admissions to it until this transaction
    ends, so an admission never misses a group added at the same moment."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                       f"program/{site_id}/{program_id}")


async def occupancy(conn: Connection, session_ids: Sequence[str]) -> dict[str, int]:
    """Patients holding a place (not waitlisted, not cancelled) at each session."""
    rows = await conn.fetch(
        "SELECT session_id::text AS session_id, count(*) AS taken FROM patient_sessions"
        " WHERE session_id = ANY($1::uuid[]) AND NOT waitlisted AND status <> 'cancelled'"
        " GROUP BY session_id",
        list(session_ids),
    )
    return {row["session_id"]: int(row["taken"]) for row in rows}


async def group_of_session(conn: Connection, session_id: str) -> tuple[Group, datetime] | None:
    """The group a group session belongs to, and when the session starts."""
    row = await conn.fetchrow(
        "SELECT DISTINCT ON (ps.session_id) ps.starts_at AS session_starts_at,"
        f" {', '.join('g.' + c.strip() for c in _GROUP_COLUMNS.split(','))}"
        " FROM patient_sessions ps JOIN program_groups g"
        " ON g.site_id = ps.site_id AND g.group_id = ps.group_id"
        " WHERE ps.session_id = $1",
        session_id,
    )
    if row is None:
        return None
    fields = dict(row)
    starts_at = fields.pop("session_starts_at")
    return Group(**{**fields, "modality": Modality(fields["modality"])}), starts_at


async def waitlist(conn: Connection, session_id: str) -> list[str]:
    """The patients waitlisted for a session, earliest first."""
    rows = await conn.fetch(
        "SELECT patient_id::text AS patient_id FROM patient_sessions"
        " WHERE session_id = $1 AND status = 'waitlisted'"
        " ORDER BY waitlisted_since NULLS FIRST, patient_id",
        session_id,
    )
    return [row["patient_id"] for row in rows]


# Enrollments ----------------------------------------------------------------------------


async def save_terms(conn: Connection, terms: EnrollmentTerms) -> None:
    await conn.execute(
        "INSERT INTO enrollments (patient_id, site_id, program_id, days_per_week,"
        " weekly_hours_target, starts_on, ends_on, status, clinician_id, time_zone,"
        " baseline_phq9) VALUES ($1, $2, $3, $4, $5, $6, $7, 'awaiting_schedule', $8, $9, $10)"
        " ON CONFLICT (patient_id) DO NOTHING",
        terms.patient_id, terms.site_id, terms.program_id, terms.days_per_week,
        terms.weekly_hours_target, terms.starts_on, terms.ends_on, terms.clinician_id,
        terms.time_zone, terms.baseline_phq9,
    )


async def end_enrollment(conn: Connection, patient_id: str, ended_on: date, reason: str
                         ) -> None:
    await conn.execute(
        "UPDATE enrollments SET status = 'ended', ended_on = $2, end_reason = $3,"
        " updated_at = now() WHERE patient_id = $1 AND ended_on IS NULL",
        patient_id, ended_on, reason,
    )


async def enrollments_short_of_days(conn: Connection, site_id: str, program_id: str
                                    ) -> list[str]:
    """Enrollments of the program, not ended nor over, with fewer weekdays of groups ahead
    than their days a week (awaiting a schedule included), in the order they enrolled."""
    rows = await conn.fetch(
        "SELECT e.patient_id::text AS patient_id FROM enrollments e"
        " WHERE e.site_id = $1 AND e.program_id = $2 AND e.ended_on IS NULL"
        " AND e.status <> 'ended' AND e.ends_on > (now() AT TIME ZONE e.time_zone)::date"
        " AND e.days_per_week > (SELECT count(DISTINCT extract(isodow FROM"
        "     ps.starts_at AT TIME ZONE e.time_zone)) FROM patient_sessions ps"
        "   WHERE ps.patient_id = e.patient_id AND ps.kind = 'group'"
        "   AND ps.status <> 'cancelled' AND ps.starts_at >= now())"
        " ORDER BY e.enrolled_at, e.patient_id",
        site_id, program_id,
    )
    return [row["patient_id"] for row in rows]


async def find_enrollment(conn: Connection, patient_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT patient_id, site_id, program_id, days_per_week, weekly_hours_target, starts_on,"
        " ends_on, status, clinician_id, time_zone, baseline_phq9, ended_on, end_reason"
        " FROM enrollments WHERE patient_id = $1",
        patient_id,
    )
    if row is None:
        return None
    enrollment = dict(row)
    enrollment["planned_weeks"] = (row["ends_on"] - row["starts_on"]).days // 7
    return enrollment


async def attendance_policy(conn: Connection, enrollment: Enrollment) -> AttendancePolicy:
    policies = await site_policies(conn, enrollment.known_terms.site_id)
    return AttendancePolicy(min_weekly_hours=policies.attendance_min_weekly_hours,
                            outreach_after_absences=policies.outreach_after_absences)


async def enrollments_due_for_week_review(conn: Connection, now: datetime, after: str,
                                          limit: int) -> list[str]:
    """Enrollments under way, a week or more into the program, not yet reviewed on their
    site's today, in patient id order after ``after``; none reviewed on or after its last
    program day is due again."""
    rows = await conn.fetch(
        "SELECT patient_id::text AS patient_id FROM enrollments"
        " WHERE ended_on IS NULL AND status <> 'ended' AND patient_id::text > $2"
        " AND starts_on + 7 <= ($1 AT TIME ZONE time_zone)::date"
        " AND (weeks_reviewed_on IS NULL OR (weeks_reviewed_on < ($1 AT TIME ZONE time_zone)::date"
        "      AND weeks_reviewed_on < ends_on))"
        " ORDER BY patient_id::text LIMIT $3",
        now, after, limit,
    )
    return [row["patient_id"] for row in rows]


async def mark_weeks_reviewed(conn: Connection, patient_id: str, on: date) -> None:
    await conn.execute("UPDATE enrollments SET weeks_reviewed_on = $2 WHERE patient_id = $1",
                       patient_id, on)


def _terms(row: Mapping[str, Any]) -> EnrollmentTerms:
    return EnrollmentTerms(
        patient_id=str(row["patient_id"]), site_id=row["site_id"], program_id=row["program_id"],
        clinician_id=row["clinician_id"] or "", starts_on=row["starts_on"],
        days_per_week=row["days_per_week"], planned_weeks=row["planned_weeks"],
        time_zone=row["time_zone"], baseline_phq9=row["baseline_phq9"],
        ended_on=row["ended_on"],
    )


async def project_enrollment(conn: Connection, event: DomainEvent, _: EventEnvelope) -> None:
    """Sessions' own read models, updated in the transaction that records the events."""
    match event:
        case SessionScheduled():
            await conn.execute(
                "INSERT INTO patient_sessions (session_id, patient_id, site_id, kind, modality,"
                " group_id, starts_at, duration_minutes, clinician_id, waitlisted, status,"
                " waitlisted_since)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
                " CASE WHEN $10 THEN clock_timestamp() END)"
                " ON CONFLICT (session_id, patient_id) DO UPDATE SET"
                " waitlisted = excluded.waitlisted, status = excluded.status,"
                # Still waitlisted keeps the place in the queue; waitlisted anew joins its end.
                " waitlisted_since = CASE WHEN patient_sessions.status = 'waitlisted'"
                " AND excluded.waitlisted THEN patient_sessions.waitlisted_since"
                " ELSE excluded.waitlisted_since END",
                event.session_id, event.patient_id, event.site_id, event.kind.value,
                event.modality.value, event.group_id, event.starts_at, event.duration_minutes,
                event.clinician_id, event.waitlisted,
                "waitlisted" if event.waitlisted else "scheduled",
            )
            await conn.execute(
                "UPDATE enrollments SET status = 'scheduled', updated_at = now()"
                " WHERE patient_id = $1 AND status = 'awaiting_schedule'", event.patient_id)
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


async def _set_attendance(conn: Connection, patient_id: str, session_id: str, status: str,
                          late_minutes: int, credited_minutes: int) -> None:
    await conn.execute(
        "UPDATE patient_sessions SET status = $3, late_minutes = $4, credited_minutes = $5"
        " WHERE patient_id = $1 AND session_id = $2",
        patient_id, session_id, status, late_minutes, credited_minutes,
    )


class Enrollments(Repository[Enrollment]):
    """Enrollments, visible only when the caller's site can see the patient's enrollment."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn, EVENTS, Enrollment, project=project_enrollment)

    async def get(self, aggregate_id: str) -> Enrollment | None:
        # The events table is not confined to a site; the enrollments row is, so it
        # decides whether the patient exists for this caller.
        row = await find_enrollment(self.conn, aggregate_id)
        if row is None:
            return None
        enrollment = await super().get(aggregate_id) or Enrollment(aggregate_id)
        enrollment.terms = _terms(row)
        return enrollment


# Treatment plans, as plans told us --------------------------------------------------------


async def plan_of(conn: Connection, patient_id: str) -> dict[Modality, int] | None:
    weekly = await conn.fetchval("SELECT weekly FROM treatment_plans WHERE patient_id = $1",
                                 patient_id)
    return None if weekly is None else {Modality(m): int(n) for m, n in weekly.items()}


async def save_plan(conn: Connection, patient_id: str, site_id: str, plan_id: str,
                    revision: int, weekly: Mapping[Modality, int]) -> None:
    """Keep the latest revision; an older one arriving late changes nothing."""
    await conn.execute(
        "INSERT INTO treatment_plans (patient_id, site_id, plan_id, revision, weekly)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (patient_id) DO UPDATE SET"
        " plan_id = excluded.plan_id, revision = excluded.revision, weekly = excluded.weekly,"
        " updated_at = now() WHERE treatment_plans.revision < excluded.revision",
        patient_id, site_id, plan_id, revision, {m.value: n for m, n in weekly.items()},
    )
