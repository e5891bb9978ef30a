"""Intake's queries of its derived tables (what the API reads back)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from iopnet.db import Connection


async def is_visible(conn: Connection, patient_id: str) -> bool:
    """Whether the caller's site sees the patient: row-level security on ``patients``.

    The events table is not confined to a site (a transferred patient's history
    spans two); the patients row is, so it decides whether the case exists here.
    """
    return bool(await conn.fetchval("SELECT true FROM patients WHERE patient_id = $1",
                                    patient_id))


async def list_assessments(conn: Connection, patient_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT assessment_id, instrument, total, band, assessed_on, recorded_at"
        " FROM assessments WHERE patient_id = $1 ORDER BY recorded_at", patient_id,
    )
    return [dict(row) for row in rows]


async def find_patient(db: Connection, patient_id: str) -> dict[str, Any] | None:
    row = await db.fetchrow(
        "SELECT patient_id, site_id, status, referral_id, referral_source, referred_on,"
        " decided_level, program_id, start_date, days_per_week, planned_weeks, clinician_id,"
        " decided_by, overridden, rules_level, override_reason, safety_plan_id::text,"
        " age_at_referral, certified_by, certified_on, diagnosis_codes, recertify_by,"
        " version FROM patients WHERE patient_id = $1",
        patient_id,
    )
    if row is None:
        return None
    patient = dict(row)
    decision = {"level": patient["decided_level"],
                **{k: patient.pop(k) for k in DECISION_COLUMNS}}
    patient["decision"] = decision if decision["level"] else None
    certification = {k: patient.pop(k) for k in CERTIFICATION_COLUMNS}
    patient["certification"] = certification if certification["certified_by"] else None
    return patient


DECISION_COLUMNS = ("decided_by", "overridden", "rules_level", "override_reason")
CERTIFICATION_COLUMNS = ("certified_by", "certified_on", "diagnosis_codes", "recertify_by")


async def list_sites(db: Connection) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT site_id, name, time_zone, policies FROM sites ORDER BY site_id")
    return [dict(row) for row in rows]


async def list_keys(db: Connection | asyncpg.Pool, site_id: str | None) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT key_id, site_id, scopes, expires_at, rate_limit_per_minute, replaces,"
        " issued_at, revoked_at FROM api_keys WHERE $1::text IS NULL OR site_id = $1"
        " ORDER BY issued_at", site_id,
    )
    return [dict(row) for row in rows]


async def census(db: Connection) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT site_id, status, count(*) AS patients FROM patients"
        " GROUP BY site_id, status ORDER BY site_id, status"
    )
    return [dict(row) for row in rows]


# FHIR reads: the patient with who they are, and the scored assessments with their answers.

async def find_person(conn: Connection, patient_id: str) -> dict[str, Any] | None:
    """The patient's row with their identity and the sex at birth an AUDIT-C recorded
    (its latest); None when the caller's site does not see the patient."""
    row = await conn.fetchrow(
        "SELECT p.patient_id::text, p.site_id, p.status, i.given_name, i.family_name,"
        " i.birth_date, (SELECT a.responses->>'sex_at_birth' FROM assessments a"
        "  WHERE a.patient_id = p.patient_id AND a.responses->>'sex_at_birth' IS NOT NULL"
        "  ORDER BY a.recorded_at DESC LIMIT 1) AS sex_at_birth"
        " FROM patients p LEFT JOIN patient_identities i USING (patient_id)"
        " WHERE p.patient_id = $1", patient_id)
    return dict(row) if row else None


async def scored_assessments(conn: Connection, patient_id: str | None = None,
                             assessment_id: str | None = None,
                             instruments: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Scored assessments with their answers: a patient's, or one by its id."""
    rows = await conn.fetch(
        "SELECT assessment_id::text, patient_id::text, instrument, total, band, assessed_on,"
        " recorded_at, responses, entered_in_error FROM assessments"
        " WHERE ($1::uuid IS NULL OR patient_id = $1) AND ($2::uuid IS NULL OR assessment_id = $2)"
        " AND instrument = ANY($3::text[]) ORDER BY recorded_at",
        patient_id, assessment_id, list(instruments))
    return [dict(row) for row in rows]
