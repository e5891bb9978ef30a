"""Sessions' queries of its derived tables: programs and groups, enrollments, plans."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import asyncpg

from iopnet.auth.registry import site_policies
from iopnet.catalog import Modality, OutcomeMeasured
from iopnet.db import Connection
from iopnet.eventstore import EventStore
from services.sessions.domain import AttendancePolicy, Enrollment, Group

EVENTS = EventStore.of("sessions")

# Programs and groups --------------------------------------------------------------------


async def list_programs(conn: Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT site_id, program_id, name FROM programs"
                            " ORDER BY site_id, program_id")
    return [dict(row) for row in rows]


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


async def enrollment_visible(conn: Connection, patient_id: str) -> bool:
    """Whether the caller's site sees the patient's enrollment. The events table is not
    confined to a site; the enrollments row is (row-level security), so it decides
    whether the patient exists for this caller. Its state comes from the stream."""
    return bool(await conn.fetchval("SELECT true FROM enrollments WHERE patient_id = $1",
                                    patient_id))


async def enrollments_short_of_days(conn: Connection, site_id: str, program_id: str,
                                    now: datetime) -> list[str]:
    """Enrollments of the program, not ended nor over, with fewer weekdays of groups ahead
    than their days a week (awaiting a schedule included), in the order they enrolled."""
    rows = await conn.fetch(
        "SELECT e.patient_id::text AS patient_id FROM enrollments e"
        " WHERE e.site_id = $1 AND e.program_id = $2 AND e.ended_on IS NULL"
        " AND e.status <> 'ended' AND e.ends_on > ($3::timestamptz AT TIME ZONE e.time_zone)::date"
        " AND e.days_per_week > (SELECT count(DISTINCT extract(isodow FROM"
        "     ps.starts_at AT TIME ZONE e.time_zone)) FROM patient_sessions ps"
        "   WHERE ps.patient_id = e.patient_id AND ps.kind = 'group'"
        "   AND ps.status <> 'cancelled' AND ps.starts_at >= $3)"
        " ORDER BY e.enrolled_at, e.patient_id",
        site_id, program_id, now,
    )
    return [row["patient_id"] for row in rows]


async def find_enrollment(conn: Connection, patient_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT patient_id, site_id, program_id, days_per_week, weekly_hours_target, starts_on,"
        " ends_on, status, clinician_id, time_zone, baseline_phq9, ended_on, end_reason,"
        " schedule_refusal"
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
        "SELECT e.patient_id::text AS patient_id FROM enrollments e"
        " LEFT JOIN week_reviews r ON r.patient_id = e.patient_id"
        " WHERE e.ended_on IS NULL AND e.status <> 'ended' AND e.patient_id::text > $2"
        " AND e.starts_on + 7 <= ($1 AT TIME ZONE e.time_zone)::date"
        " AND (r.reviewed_on IS NULL OR (r.reviewed_on < ($1 AT TIME ZONE e.time_zone)::date"
        "      AND r.reviewed_on < e.ends_on))"
        " ORDER BY e.patient_id::text LIMIT $3",
        now, after, limit,
    )
    return [row["patient_id"] for row in rows]


async def mark_weeks_reviewed(conn: Connection, patient_id: str, on: date) -> None:
    """The calendar job's own progress (bookkeeping, not a fact of the enrollment)."""
    await conn.execute(
        "INSERT INTO week_reviews (patient_id, reviewed_on) VALUES ($1, $2)"
        " ON CONFLICT (patient_id) DO UPDATE SET reviewed_on = excluded.reviewed_on",
        patient_id, on)


# Treatment plans, as plans told us --------------------------------------------------------


def _weekly(stored: Mapping[str, int] | None) -> dict[Modality, int] | None:
    return None if stored is None else {Modality(m): int(n) for m, n in stored.items()}


async def plan_of(conn: Connection, patient_id: str) -> dict[Modality, int] | None:
    return _weekly(await conn.fetchval(
        "SELECT weekly FROM treatment_plans WHERE patient_id = $1", patient_id))


async def plan_before(conn: Connection, patient_id: str) -> dict[Modality, int] | None:
    """The plan as it stood before the latest plan event was projected."""
    return _weekly(await conn.fetchval(
        "SELECT weekly_before FROM treatment_plans WHERE patient_id = $1", patient_id))


async def save_plan(conn: Connection, patient_id: str, site_id: str, plan_id: str,
                    revision: int, weekly: Mapping[Modality, int], at: datetime) -> None:
    """Keep the latest revision; an older one arriving late changes nothing but
    ``weekly_before``, which is always the plan as this event found it (a revision's
    reaction measures what it added and dropped against that)."""
    await conn.execute(
        "INSERT INTO treatment_plans (patient_id, site_id, plan_id, revision, weekly,"
        " updated_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (patient_id) DO UPDATE SET"
        " weekly_before = treatment_plans.weekly,"
        " plan_id = CASE WHEN treatment_plans.revision < excluded.revision"
        "   THEN excluded.plan_id ELSE treatment_plans.plan_id END,"
        " weekly = CASE WHEN treatment_plans.revision < excluded.revision"
        "   THEN excluded.weekly ELSE treatment_plans.weekly END,"
        " updated_at = CASE WHEN treatment_plans.revision < excluded.revision"
        "   THEN excluded.updated_at ELSE treatment_plans.updated_at END,"
        " revision = greatest(treatment_plans.revision, excluded.revision)",
        patient_id, site_id, plan_id, revision, {m.value: n for m, n in weekly.items()}, at,
    )


# FHIR reads --------------------------------------------------------------------------------

# The event type as a literal: the partial index (migration 007) is chosen by it.
_MEASURED_PATIENT = (
    "SELECT envelope->>'subject' FROM events"
    f" WHERE event_type = '{OutcomeMeasured.event_type}'"
    " AND envelope->'data'->>'measure_id' = $1")
_PLACE = ("SELECT session_id, patient_id, kind, modality, starts_at, duration_minutes,"
          " clinician_id, status, credited_minutes FROM patient_sessions")


async def measured_patient(conn: Connection, measure_id: str) -> str | None:
    """The patient a measure was taken of, from its OutcomeMeasured; whether the caller
    may see the patient is ``enrollment_visible``'s to say."""
    patient_id = await conn.fetchval(_MEASURED_PATIENT, measure_id)
    return str(patient_id) if patient_id else None


async def patient_sessions(conn: Connection, patient_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(_PLACE + " WHERE patient_id = $1 ORDER BY starts_at", patient_id)
    return [dict(row) for row in rows]


async def find_patient_session(conn: Connection, encounter_id: str) -> dict[str, Any] | None:
    """The place an Encounter id names (``api.fhir.encounter_id``: md5 of both ids)."""
    row = await conn.fetchrow(
        _PLACE + " WHERE md5(session_id::text || '/' || patient_id::text)::uuid = $1",
        encounter_id)
    return dict(row) if row else None
