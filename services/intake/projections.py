"""Intake's read model of its own cases, updated in the transaction that records the events."""

from __future__ import annotations

from iopnet.catalog import DomainEvent, PatientAdmitted, PatientReferred
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope


async def project(conn: Connection, event: DomainEvent, envelope: EventEnvelope) -> None:
    match event:
        case PatientReferred():
            await conn.execute(
                "INSERT INTO patients (patient_id, site_id, status, referral_id, referral_source,"
                " referred_on, version) VALUES ($1, $2, 'referred', $3, $4, $5, $6)",
                event.patient_id, event.site_id, event.referral_id, event.source.value,
                event.referred_on, envelope.streamversion,
            )
        case PatientAdmitted():
            await conn.execute(
                "UPDATE patients SET status = 'admitted', program_id = $2, start_date = $3,"
                " days_per_week = $4, planned_weeks = $5, clinician_id = $6, version = $7,"
                " updated_at = now() WHERE patient_id = $1",
                event.patient_id, event.program_id, event.start_date, event.days_per_week,
                event.planned_weeks, event.clinician_id, envelope.streamversion,
            )
