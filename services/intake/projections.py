"""Intake's tables, derived from its own events in the transaction that records them.

Each row is written from the event and its envelope alone (times included), so
replaying the event store rebuilds the same tables; a forgotten patient's
sealed data replays as None and writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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


#: One write of a derived table: the table, the statement, its arguments.
Write = tuple[str, str, tuple[object, ...]]


async def project(conn: Connection, event: DomainEvent, envelope: EventEnvelope) -> None:
    """Every event intake records: the patient's case, or the network registry."""
    await project_saved(conn, [(event, envelope)])


async def project_saved(conn: Connection,
                        recorded: Sequence[tuple[DomainEvent, EventEnvelope]]) -> None:
    """The events of one save (or of a rebuild, one at a time), in their order.

    Every event of a case moves the patients row's version on, private ones included;
    a save moves it once, to its last event's, in the statement of its last write (or
    with the row's own changes, which a save's events gather into one ``UPDATE``).
    """
    writes: list[Write] = []
    patient: dict[str, object] = {}  # columns of the patients row to set
    patient_id = ""
    for event, envelope in recorded:
        if not isinstance(event, PatientEvent):
            await _flush(conn, writes, patient_id, patient)
            writes, patient = [], {}
            await REGISTRY_PROJECTORS[type(event)](conn, event, envelope)
            continue
        if isinstance(event, PatientForgotten):
            await _flush(conn, writes, patient_id, patient)
            writes, patient = [], {}
            await forget_patient(conn, event.patient_id, PATIENT_TABLES)
            continue
        if patient_id != event.patient_id:
            await _flush(conn, writes, patient_id, patient)
            writes, patient, patient_id = [], {}, event.patient_id
        if isinstance(event, PatientReferred):
            writes.append(_referred(event, envelope))
            continue  # the row starts at this event's version
        writes += _case_writes(event, envelope)
        patient.update(_patient_columns(event), version=envelope.streamversion,
                       updated_at=envelope.time)
    await _flush(conn, writes, patient_id, patient)


def _referred(event: PatientReferred, envelope: EventEnvelope) -> Write:
    return _insert("patients", {
        "patient_id": event.patient_id, "site_id": event.site_id, "status": "referred",
        "referral_id": event.referral_id, "referral_source": event.source.value,
        "referred_on": event.referred_on, "age_at_referral": event.age_at_referral,
        "version": envelope.streamversion, "updated_at": envelope.time})


def _patient_columns(event: PatientEvent) -> dict[str, object]:
    """What the event changes in the patients row besides its version."""
    match event:
        case PatientAdmitted():
            return {"status": "admitted", "program_id": event.program_id,
                    "start_date": event.start_date, "days_per_week": event.days_per_week,
                    "planned_weeks": event.planned_weeks, "clinician_id": event.clinician_id,
                    "decided_level": "iop", "decided_by": event.decided_by,
                    "overridden": event.overridden,
                    "rules_level": event.recommended_level.value}
        case AdmissionDeclined():
            return {"status": "declined", "decided_level": event.recommended_level.value,
                    "decided_by": event.decided_by, "overridden": event.overridden,
                    "rules_level": event.rules_level.value if event.rules_level else None}
        case OverrideReasoned():
            return {"override_reason": event.reason}
        case PatientCertified():
            return {"certified_by": event.certified_by, "certified_on": event.certified_on,
                    "diagnosis_codes": event.diagnosis_codes,
                    "recertify_by": event.recertify_by}
        case SafetyPlanRecorded():
            return {"safety_plan_id": event.safety_plan_id}
        case PatientTransferred():
            return {"site_id": event.site_id}
    return {}


def _case_writes(event: PatientEvent, envelope: EventEnvelope) -> list[Write]:
    """The event's writes of tables other than patients."""
    match event:
        case PatientIdentityRecorded(identity=Identity() as who):
            return [_insert("patient_identities", {
                "patient_id": event.patient_id, "site_id": event.site_id,
                "given_name": who.given_name, "family_name": who.family_name,
                "birth_date": who.birth_date})]
        case AssessmentRecorded():
            return [_insert("assessments", {
                "assessment_id": event.assessment_id, "patient_id": event.patient_id,
                "site_id": event.site_id, "instrument": event.instrument.value,
                "total": event.total, "band": event.band, "assessed_on": event.assessed_on,
                "recorded_at": envelope.time})]
        case AssessmentEnteredInError():
            return [("assessments",
                     "UPDATE assessments SET entered_in_error = true WHERE assessment_id = $1",
                     (event.assessment_id,))]
        case AssessmentAnswered(answers=Answers() as answers):
            return [("assessments",
                     "UPDATE assessments SET responses = $2 WHERE assessment_id = $1",
                     (event.assessment_id, answers.model_dump(mode="json")))]
        case PatientTransferred():
            return [(table, f"UPDATE {table} SET site_id = $2 WHERE patient_id = $1",
                     (event.patient_id, event.site_id))
                    for table in PATIENT_TABLES if table != "patients"]
    return []


def _insert(table: str, row: Mapping[str, object]) -> Write:
    """One row per fact: an event replayed onto an existing row adds nothing."""
    places = ", ".join(f"${n}" for n in range(1, len(row) + 1))
    return (table, f"INSERT INTO {table} ({', '.join(row)}) VALUES ({places})"
                   " ON CONFLICT DO NOTHING", tuple(row.values()))


async def _flush(conn: Connection, writes: Sequence[Write], patient_id: str,
                 patient: Mapping[str, object]) -> None:
    """The writes in order, the patients row's changes riding on the last of them (a
    statement's CTE) unless that one writes the patients row itself."""
    if not patient:
        for _, statement, args in writes:
            await conn.execute(statement, *args)
        return
    *before, last = writes or [("patients", "", ())]
    for _, statement, args in before:
        await conn.execute(statement, *args)
    table, statement, args = last
    if table == "patients":  # a row inserted by this statement is not there for its CTEs
        if statement:
            await conn.execute(statement, *args)
        table, statement, args = "", "", ()
    first = len(args) + 1
    columns = ", ".join(f"{name} = ${n}" for n, name in enumerate(patient, start=first + 1))
    update = f"UPDATE patients SET {columns} WHERE patient_id = ${first}"
    await conn.execute(f"WITH moved AS ({update}) {statement}" if statement else update,
                       *args, patient_id, *patient.values())
