"""Family's read models: what the API and the consent expiry job read (the tables are
written by projections only, ``projections.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from iopnet.catalog import ConsentScope, Phq9Trend
from iopnet.db import Connection
from services.family.domain import Consent


async def circles_with_consents_due_to_expire(conn: Connection, now: datetime, after: str,
                                              limit: int) -> list[str]:
    """Patients with a consent past its last day on their site's today at ``now``, neither
    revoked nor marked expired, in patient id order after ``after``."""
    # No site's today is later than UTC's tomorrow: the first bound lets the index answer.
    rows = await conn.fetch(
        "SELECT DISTINCT c.patient_id::text AS patient_id FROM consents c"
        " LEFT JOIN sites s USING (site_id)"
        " WHERE c.revoked_at IS NULL AND c.expired_on IS NULL"
        " AND c.expires_on <= ($1 AT TIME ZONE 'UTC')::date"
        " AND c.expires_on < ($1 AT TIME ZONE coalesce(s.time_zone, 'UTC'))::date"
        " AND c.patient_id::text > $2 ORDER BY 1 LIMIT $3",
        now, after, limit,
    )
    return [row["patient_id"] for row in rows]


# Read models.

async def find_circle(conn: Connection, patient_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT c.patient_id, c.site_id, c.admitted_on, s.status AS care_status,"
        " s.since AS status_since FROM family_circles c"
        " LEFT JOIN care_status s USING (patient_id) WHERE c.patient_id = $1",
        patient_id,
    )
    return dict(row) if row else None


async def support_persons(conn: Connection, patient_id: str,
                          support_person_id: str | None = None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT support_person_id, patient_id, relationship, given_name, family_name, linked_at"
        " FROM support_persons WHERE patient_id = $1"
        " AND ($2::uuid IS NULL OR support_person_id = $2::uuid) ORDER BY linked_at",
        patient_id, support_person_id,
    )
    return [dict(row) for row in rows]


async def consent_history(conn: Connection, patient_id: str,
                          support_person_id: str | None = None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT consent_id, support_person_id, scope, expires_on, granted_at, revoked_at,"
        " expired_on FROM consents WHERE patient_id = $1"
        " AND ($2::uuid IS NULL OR support_person_id = $2::uuid) ORDER BY granted_at, consent_id",
        patient_id, support_person_id,
    )
    return [dict(row) for row in rows]


async def consent(conn: Connection, consent_id: str) -> dict[str, Any]:
    row = await conn.fetchrow(
        "SELECT consent_id, support_person_id, scope, expires_on, granted_at, revoked_at,"
        " expired_on FROM consents WHERE consent_id = $1", consent_id)
    assert row is not None, f"consent {consent_id} is projected as it is recorded"
    return dict(row)


def as_consent(row: dict[str, Any]) -> Consent:
    return Consent(
        consent_id=str(row["consent_id"]), support_person_id=str(row["support_person_id"]),
        scope=ConsentScope(row["scope"]), expires_on=row["expires_on"],
        revoked=row["revoked_at"] is not None, expired=row["expired_on"] is not None,
    )


async def family_sessions(conn: Connection, patient_id: str,
                          family_session_id: str | None = None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT f.family_session_id, f.patient_id, f.kind, f.held_on, f.clinician_id,"
        " coalesce(json_agg(json_build_object('support_person_id', a.support_person_id,"
        " 'attended', a.attended) ORDER BY a.support_person_id)"
        " FILTER (WHERE a.support_person_id IS NOT NULL), '[]') AS attendance"
        " FROM family_sessions f LEFT JOIN family_session_attendance a USING (family_session_id)"
        " WHERE f.patient_id = $1 AND ($2::uuid IS NULL OR f.family_session_id = $2::uuid)"
        " GROUP BY f.family_session_id ORDER BY f.held_on, f.recorded_at",
        patient_id, family_session_id,
    )
    return [dict(row) for row in rows]


async def upcoming_sessions(conn: Connection, patient_id: str, after: datetime
                            ) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT starts_at, duration_minutes, kind FROM scheduled_sessions"
        " WHERE patient_id = $1 AND starts_at > $2 AND NOT cancelled AND NOT waitlisted"
        " ORDER BY starts_at",
        patient_id, after,
    )
    return [dict(row) for row in rows]


async def latest_trend(conn: Connection, patient_id: str) -> Phq9Trend | None:
    """Plans' judgement of the latest PHQ-9; None before any."""
    value = await conn.fetchval(
        "SELECT trend FROM progress_trends WHERE patient_id = $1"
        " ORDER BY measured_on DESC, recorded_at DESC LIMIT 1", patient_id)
    return Phq9Trend(value) if value is not None else None


# FHIR reads: by id as well as by patient.

async def find_support_person(conn: Connection, support_person_id: str
                              ) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT support_person_id, patient_id, relationship, given_name, family_name"
        " FROM support_persons WHERE support_person_id = $1", support_person_id)
    return dict(row) if row else None


async def consents_of(conn: Connection, patient_id: str | None = None,
                      consent_id: str | None = None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT consent_id, patient_id, support_person_id, scope, expires_on, granted_at,"
        " revoked_at, expired_on FROM consents WHERE ($1::uuid IS NULL OR patient_id = $1)"
        " AND ($2::uuid IS NULL OR consent_id = $2) ORDER BY granted_at, consent_id",
        patient_id, consent_id)
    return [dict(row) for row in rows]
