"""Intake's adapters: repositories over the event store, patient identities, read models."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from iopnet.aggregate import Repository
from iopnet.catalog import Instrument
from iopnet.db import Connection
from iopnet.eventstore import EventStore
from iopnet.topics import network_topic
from services.intake import projections
from services.intake.domain import ApiKey, PatientCase, Responses, Site, score
from services.intake.domain.instruments import Score


class PatientCases(Repository[PatientCase]):
    """Patient cases, visible only when the caller's site can see the patient."""

    def __init__(self, conn: Connection, events: EventStore) -> None:
        super().__init__(conn, events, PatientCase, project=projections.project_case)

    async def get(self, aggregate_id: str) -> PatientCase | None:
        # The events table is not confined to a site (a transferred patient's history
        # spans two); the patients row is, so it decides whether the case exists here.
        if await find_patient(self.conn, aggregate_id) is None:
            return None
        return await super().get(aggregate_id)


def sites(conn: Connection, events: EventStore) -> Repository[Site]:
    return Repository(conn, events, Site, project=projections.project_network,
                      topic=network_topic())


def api_keys(conn: Connection, events: EventStore) -> Repository[ApiKey]:
    return Repository(conn, events, ApiKey, project=projections.project_network,
                      topic=network_topic())


async def record_identity(
    conn: Connection, patient_id: str, site_id: str,
    given_name: str, family_name: str, birth_date: date,
) -> None:
    await conn.execute(
        "INSERT INTO patient_identities (patient_id, site_id, given_name, family_name,"
        " birth_date) VALUES ($1, $2, $3, $4, $5)",
        patient_id, site_id, given_name, family_name, birth_date,
    )


async def save_assessment(conn: Connection, assessment_id: str, case: PatientCase,
                          responses: Responses, result: Score[Any], assessed_on: date) -> None:
    await conn.execute(
        "INSERT INTO assessments (assessment_id, patient_id, site_id, instrument, responses,"
        " total, band, assessed_on) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        assessment_id, case.id, case.site_id, responses.instrument.value,
        {"items": list(responses.items) if responses.items is not None else None,
         "answers": dict(responses.answers) if responses.answers is not None else None,
         "sex_at_birth": responses.sex_at_birth},
        result.total, result.band.value, assessed_on,
    )


async def latest_results(conn: Connection, patient_id: str) -> dict[Instrument, Score[Any]]:
    """The newest result of each instrument, scored again from the stored responses."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (instrument) instrument, responses FROM assessments"
        " WHERE patient_id = $1 ORDER BY instrument, recorded_at DESC", patient_id,
    )
    return {
        Instrument(row["instrument"]): score(Responses(Instrument(row["instrument"]),
                                                       **row["responses"]))
        for row in rows
    }


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
        " version FROM patients WHERE patient_id = $1",
        patient_id,
    )
    return dict(row) if row else None


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
