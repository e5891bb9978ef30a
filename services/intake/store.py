"""Intake's adapters: the case repository over the event store, and patient identities."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from iopnet.catalog import parse_event
from iopnet.db import Connection
from iopnet.eventstore import Cause, EventStore
from services.intake import projections
from services.intake.domain import PatientCase, stream_of


class PatientCases:
    """Loads and saves PatientCase aggregates on one connection (one unit of work)."""

    def __init__(self, conn: Connection, events: EventStore) -> None:
        self.conn = conn
        self.events = events

    async def get(self, patient_id: str) -> PatientCase | None:
        history = await self.events.read_stream(self.conn, stream_of(patient_id))
        if not history:
            return None
        return PatientCase.from_history(patient_id, (parse_event(e) for e in history))

    async def save(self, case: PatientCase, cause: Cause) -> None:
        envelopes = await self.events.append(
            self.conn, stream_of(case.patient_id), case.version, case.pending, cause
        )
        for event, envelope in zip(case.pending, envelopes, strict=True):
            await projections.project(self.conn, event, envelope)
        case.mark_saved()


async def record_identity(
    conn: Connection, patient_id: str, site_id: str,
    given_name: str, family_name: str, birth_date: date,
) -> None:
    await conn.execute(
        "INSERT INTO patient_identities (patient_id, site_id, given_name, family_name,"
        " birth_date) VALUES ($1, $2, $3, $4, $5)",
        patient_id, site_id, given_name, family_name, birth_date,
    )


async def find_patient(
    db: asyncpg.Pool | Connection, patient_id: str
) -> dict[str, Any] | None:
    row = await db.fetchrow(
        "SELECT patient_id, site_id, status, referral_id, referral_source, referred_on,"
        " program_id, start_date, days_per_week, planned_weeks, clinician_id, version"
        " FROM patients WHERE patient_id = $1",
        patient_id,
    )
    return dict(row) if row else None
