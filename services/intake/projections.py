"""Intake's read models of its own events, updated in the transaction that records them."""

from __future__ import annotations

from iopnet.auth.registry import REGISTRY_PROJECTORS
from iopnet.catalog import (
    AdmissionDeclined,
    DomainEvent,
    PatientAdmitted,
    PatientEvent,
    PatientReferred,
    PatientTransferred,
)
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope

#: Tables whose rows follow a patient to a new site.
PATIENT_TABLES = ("patients", "patient_identities", "assessments")


async def project_case(conn: Connection, event: DomainEvent, envelope: EventEnvelope) -> None:
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
                " decided_level = 'iop', updated_at = now() WHERE patient_id = $1",
                event.patient_id, event.program_id, event.start_date, event.days_per_week,
                event.planned_weeks, event.clinician_id, envelope.streamversion,
            )
        case AdmissionDeclined():
            await conn.execute(
                "UPDATE patients SET status = 'declined', decided_level = $2, version = $3,"
                " updated_at = now() WHERE patient_id = $1",
                event.patient_id, event.recommended_level.value, envelope.streamversion,
            )
        case PatientTransferred():
            for table in PATIENT_TABLES:
                await conn.execute(
                    f"UPDATE {table} SET site_id = $2 WHERE patient_id = $1",
                    event.patient_id, event.site_id,
                )
            await conn.execute("UPDATE patients SET version = $2 WHERE patient_id = $1",
                               event.patient_id, envelope.streamversion)
        case PatientEvent():  # assessments, risk signals: the case moved on
            await conn.execute("UPDATE patients SET version = $2 WHERE patient_id = $1",
                               event.patient_id, envelope.streamversion)


async def project_network(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                          ) -> None:
    await REGISTRY_PROJECTORS[type(event)](conn, event, envelope)
