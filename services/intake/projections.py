"""Intake's tables, derived from its own events in the transaction that records them.

Each row is written from the event and its envelope alone (times included), so
replaying the event store rebuilds the same tables; a forgotten patient's
sealed data replays as None and writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from iopnet.auth.registry import REGISTRY_PROJECTORS
from iopnet.catalog import (
    AdmissionDeclined,
    AssessmentEnteredInError,
    AssessmentRecorded,
    DomainEvent,
    PatientAdmitted,
    PatientCertified,
    PatientEvent,
    PatientForgotten,
    PatientReferred,
    PatientTransferred,
    SafetyPlanRecorded,
)
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.forgetting import forget_patient
from services.intake.domain.private_events import (
    Answers,
    AssessmentAnswered,
    Identity,
    OverrideReasoned,
    PatientIdentityRecorded,
)

#: Tables with the patient's rows: they follow a transfer, and go when the patient is forgotten.
PATIENT_TABLES = ("patients", "patient_identities", "assessments")


async def project(conn: Connection, event: DomainEvent, envelope: EventEnvelope) -> None:
    """Every event intake records: the patient's case, or the network registry."""
    if isinstance(event, PatientEvent):
        await project_case(conn, event, envelope)
    else:
        await REGISTRY_PROJECTORS[type(event)](conn, event, envelope)


async def project_case(conn: Connection, event: PatientEvent, envelope: EventEnvelope) -> None:
    match event:
        case PatientReferred():
            await _insert(conn, "patients", {
                "patient_id": event.patient_id, "site_id": event.site_id, "status": "referred",
                "referral_id": event.referral_id, "referral_source": event.source.value,
                "referred_on": event.referred_on, "age_at_referral": event.age_at_referral,
                "version": envelope.streamversion, "updated_at": envelope.time})
            return
        case PatientForgotten():
            await forget_patient(conn, event.patient_id, PATIENT_TABLES)
            return
        case PatientIdentityRecorded(identity=Identity() as who):
            await _insert(conn, "patient_identities", {
                "patient_id": event.patient_id, "site_id": event.site_id,
                "given_name": who.given_name, "family_name": who.family_name,
                "birth_date": who.birth_date})
        case AssessmentRecorded():
            await _insert(conn, "assessments", {
                "assessment_id": event.assessment_id, "patient_id": event.patient_id,
                "site_id": event.site_id, "instrument": event.instrument.value,
                "total": event.total, "band": event.band, "assessed_on": event.assessed_on,
                "recorded_at": envelope.time})
        case AssessmentEnteredInError():
            await conn.execute(
                "UPDATE assessments SET entered_in_error = true WHERE assessment_id = $1",
                event.assessment_id)
        case AssessmentAnswered(answers=Answers() as answers):
            await conn.execute("UPDATE assessments SET responses = $2 WHERE assessment_id = $1",
                               event.assessment_id, answers.model_dump(mode="json"))
        case PatientAdmitted():
            await conn.execute(
                "UPDATE patients SET status = 'admitted', program_id = $2, start_date = $3,"
                " days_per_week = $4, planned_weeks = $5, clinician_id = $6,"
                " decided_level = 'iop', decided_by = $7, overridden = $8, rules_level = $9"
                " WHERE patient_id = $1",
                event.patient_id, event.program_id, event.start_date, event.days_per_week,
                event.planned_weeks, event.clinician_id, event.decided_by, event.overridden,
                event.recommended_level.value,
            )
        case AdmissionDeclined():
            await conn.execute(
                "UPDATE patients SET status = 'declined', decided_level = $2, decided_by = $3,"
                " overridden = $4, rules_level = $5 WHERE patient_id = $1",
                event.patient_id, event.recommended_level.value, event.decided_by,
                event.overridden, event.rules_level.value if event.rules_level else None,
            )
        case OverrideReasoned():
            await conn.execute("UPDATE patients SET override_reason = $2 WHERE patient_id = $1",
                               event.patient_id, event.reason)
        case PatientCertified():
            await conn.execute(
                "UPDATE patients SET certified_by = $2, certified_on = $3, diagnosis_codes = $4,"
                " recertify_by = $5 WHERE patient_id = $1", event.patient_id,
                event.certified_by, event.certified_on, event.diagnosis_codes,
                event.recertify_by)
        case SafetyPlanRecorded():
            await conn.execute("UPDATE patients SET safety_plan_id = $2 WHERE patient_id = $1",
                               event.patient_id, event.safety_plan_id)
        case PatientTransferred():
            for table in PATIENT_TABLES:
                await conn.execute(f"UPDATE {table} SET site_id = $2 WHERE patient_id = $1",
                                   event.patient_id, event.site_id)
    await _moved_on(conn, event.patient_id, envelope)


async def _insert(conn: Connection, table: str, row: Mapping[str, object]) -> None:
    """One row per fact: an event replayed onto an existing row adds nothing."""
    places = ", ".join(f"${n}" for n in range(1, len(row) + 1))
    await conn.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({places})"
                       " ON CONFLICT DO NOTHING", *row.values())


async def _moved_on(conn: Connection, patient_id: str, envelope: EventEnvelope) -> None:
    """Every event of the case moves its version on, private ones included."""
    await conn.execute("UPDATE patients SET version = $2, updated_at = $3 WHERE patient_id = $1",
                       patient_id, envelope.streamversion, envelope.time)
