"""Intake's tables, derived from its own events in the transaction that records them.

Each row is written from the event and its envelope alone (times included), so
replaying the event store rebuilds the same tables; a forgotten patient's
sealed data replays as None and writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


_PRIMARY_KEYS = {"patients": "patient_id", "patient_identities": "patient_id",
                 "assessments": "assessment_id"}


@dataclass
class _Write:
    """One write of a derived table: ``columns`` inserted as a new row (once: an event
    replayed onto an existing row adds nothing), or, with ``key``, set on the rows whose
    ``key`` column has ``columns[key]``."""

    table: str
    columns: dict[str, object]
    key: str | None = None

    def amends(self, other: _Write) -> bool:
        """Whether ``other`` sets columns of the one row this writes (a later event's)."""
        return (other.table == self.table and other.key == _PRIMARY_KEYS[self.table]
                and self.key in (None, other.key)
                and self.columns.get(other.key) == other.columns[other.key])

    @property
    def args(self) -> tuple[object, ...]:
        return tuple(self.columns.values())

    def sql(self, first: int, when: str = "") -> str:
        """The statement, its parameters numbered from ``first`` in the columns' order;
        made only ``when`` that holds (``iopnet.eventstore.Rider``)."""
        places = {name: f"${n}" for n, name in enumerate(self.columns, start=first)}
        if self.key is None:
            values = (f"SELECT {', '.join(places.values())} WHERE {when}" if when
                      else f"VALUES ({', '.join(places.values())})")
            return (f"INSERT INTO {self.table} ({', '.join(places)}) {values}"
                    " ON CONFLICT DO NOTHING")
        assignments = ", ".join(f"{name} = {place}" for name, place in places.items()
                                if name != self.key)
        return (f"UPDATE {self.table} SET {assignments} WHERE {self.key} = {places[self.key]}"
                + (f" AND {when}" if when else ""))


async def project(conn: Connection, event: DomainEvent, envelope: EventEnvelope) -> None:
    """Every event intake records: the patient's case, or the network registry."""
    await project_saved(conn, [(event, envelope)])


async def project_saved(conn: Connection,
                        recorded: Sequence[tuple[DomainEvent, EventEnvelope]]) -> None:
    """The events of one save (or of a rebuild, one at a time), in their order.

    Every event of a case moves the patients row's version on, private ones included.
    A save's writes are gathered: a later event's changes to a row the save writes go
    into that write (a save moves the version once), and writes of different tables go
    in one statement; a save is then one round trip.
    """
    writes: list[_Write] = []
    for event, envelope in recorded:
        if isinstance(event, PatientEvent) and not isinstance(event, PatientForgotten):
            for write in _case_writes(event, envelope):
                _gather(writes, write)
            continue
        await _flush(conn, writes)
        writes = []
        if isinstance(event, PatientForgotten):
            await forget_patient(conn, event.patient_id, PATIENT_TABLES)
        else:
            await REGISTRY_PROJECTORS[type(event)](conn, event, envelope)
    await _flush(conn, writes)


def riding(recorded: Sequence[tuple[DomainEvent, EventEnvelope]]) -> list[_Write] | None:
    """A save's writes, when its append's statement can make them (``UnitOfWork``'s
    ``project_riding``): a case's events whose writes are of different tables."""
    writes: list[_Write] = []
    for event, envelope in recorded:
        if not isinstance(event, PatientEvent) or isinstance(event, PatientForgotten):
            return None
        for write in _case_writes(event, envelope):
            _gather(writes, write)
    if len({write.table for write in writes}) < len(writes):
        return None
    return writes


def _case_writes(event: PatientEvent, envelope: EventEnvelope) -> list[_Write]:
    """The event's writes, the patients row's new version last (the row starts at the
    referral's)."""
    moved = {"version": envelope.streamversion, "updated_at": envelope.time}
    match event:
        case PatientReferred():
            return [_Write("patients", {
                "patient_id": event.patient_id, "site_id": event.site_id, "status": "referred",
                "referral_id": event.referral_id, "referral_source": event.source.value,
                "referred_on": event.referred_on, "age_at_referral": event.age_at_referral,
                **moved})]
        case PatientIdentityRecorded(identity=Identity() as who):
            writes = [_Write("patient_identities", {
                "patient_id": event.patient_id, "site_id": event.site_id,
                "given_name": who.given_name, "family_name": who.family_name,
                "birth_date": who.birth_date})]
        case AssessmentRecorded():
            writes = [_Write("assessments", {
                "assessment_id": event.assessment_id, "patient_id": event.patient_id,
                "site_id": event.site_id, "instrument": event.instrument.value,
                "total": event.total, "band": event.band, "assessed_on": event.assessed_on,
                "recorded_at": envelope.time})]
        case AssessmentEnteredInError():
            writes = [_Write("assessments", {"assessment_id": event.assessment_id,
                                             "entered_in_error": True}, key="assessment_id")]
        case AssessmentAnswered(answers=Answers() as answers):
            writes = [_Write("assessments", {"assessment_id": event.assessment_id,
                                             "responses": answers.model_dump(mode="json")},
                             key="assessment_id")]
        case PatientTransferred():
            writes = [_Write(table, {"patient_id": event.patient_id, "site_id": event.site_id},
                             key="patient_id") for table in PATIENT_TABLES]
        case _:
            writes = []
    return [*writes, _Write("patients", {"patient_id": event.patient_id,
                                         **_patient_columns(event), **moved}, key="patient_id")]


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
    return {}


def _gather(writes: list[_Write], write: _Write) -> None:
    """Add a write, into an earlier one of the same row when there is one."""
    earlier = next((w for w in writes if w.amends(write)), None)
    if earlier is None:
        writes.append(write)
    else:
        earlier.columns.update(write.columns)


async def _flush(conn: Connection, writes: Sequence[_Write]) -> None:
    """The writes in their order, as few statements as can be: writes of different tables
    in one (each but the last a CTE). Two writes of one table are two statements: the
    CTEs of a statement do not see each other's rows."""
    group: list[_Write] = []
    for write in writes:
        if any(w.table == write.table for w in group):
            await _execute_together(conn, group)
            group = []
        group.append(write)
    await _execute_together(conn, group)


async def _execute_together(conn: Connection, writes: Sequence[_Write]) -> None:
    if not writes:
        return
    statements, first = [], 1
    for write in writes:
        statements.append(write.sql(first))
        first += len(write.columns)
    *ctes, last = statements
    prefix = ", ".join(f"w{n} AS ({cte})" for n, cte in enumerate(ctes))
    await conn.execute(f"WITH {prefix} {last}" if prefix else last,
                       *(value for write in writes for value in write.columns.values()))
