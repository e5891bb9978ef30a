"""Rows of the previous release recorded as events (``ServiceSpec.upgrades``).

That release kept facts in tables only: which circles were open and where (from
intake's PatientAdmitted), support persons' names, and who attended a family session
with which clinician. Each becomes a private event in the circle's stream (the names
sealed with the patient's data key), appended after the events the stream already has.
The rows stay as they are: they are what the new events project to.
"""

from __future__ import annotations

import uuid

import asyncpg

from iopnet.eventstore import Cause
from iopnet.migrate import DataUpgrade
from iopnet.unit_of_work import UnitOfWork
from services.family.commands import EVENTS
from services.family.domain import FamilyCircle
from services.family.domain.events import (
    AttendanceEntry,
    FamilySessionRecorded,
    SupportPersonNamed,
)


async def record_circles_names_and_attendance(conn: asyncpg.Connection) -> None:
    cause = Cause(correlation_id=f"upgrade-{uuid.uuid4()}", causation_id=str(uuid.uuid4()))
    uow = UnitOfWork(conn, EVENTS, cause)
    rows = await conn.fetch(
        "SELECT patient_id::text AS patient_id, site_id, admitted_on, baseline_phq9"
        " FROM family_circles ORDER BY patient_id")
    for row in rows:
        patient_id = row["patient_id"]
        circle = await uow.load(FamilyCircle, patient_id) or FamilyCircle(patient_id)
        circle.open(row["site_id"], row["admitted_on"], row["baseline_phq9"])
        for event in await _names(conn, patient_id):
            circle.record(event)
        for session in await _family_sessions(conn, patient_id):
            circle.record(session)
        await uow.save(circle)


async def _names(conn: asyncpg.Connection, patient_id: str) -> list[SupportPersonNamed]:
    rows = await conn.fetch(
        "SELECT support_person_id::text AS support_person_id, site_id, given_name, family_name"
        " FROM support_persons WHERE patient_id = $1 ORDER BY linked_at", patient_id)
    return [SupportPersonNamed(patient_id=patient_id, **row) for row in rows]


async def _family_sessions(conn: asyncpg.Connection, patient_id: str
                           ) -> list[FamilySessionRecorded]:
    rows = await conn.fetch(
        "SELECT f.family_session_id::text AS family_session_id, f.site_id, f.kind, f.held_on,"
        " f.clinician_id, coalesce(array_agg(a.support_person_id::text ORDER BY"
        " a.support_person_id) FILTER (WHERE a.support_person_id IS NOT NULL), '{}')"
        " AS present, coalesce(array_agg(a.attended ORDER BY a.support_person_id)"
        " FILTER (WHERE a.support_person_id IS NOT NULL), '{}') AS attended"
        " FROM family_sessions f LEFT JOIN family_session_attendance a USING (family_session_id)"
        " WHERE f.patient_id = $1 GROUP BY f.family_session_id ORDER BY f.recorded_at",
        patient_id)
    return [FamilySessionRecorded(
        patient_id=patient_id, site_id=row["site_id"],
        family_session_id=row["family_session_id"], kind=row["kind"], held_on=row["held_on"],
        clinician_id=row["clinician_id"],
        attendance=tuple(AttendanceEntry(support_person_id=person, attended=attended)
                         for person, attended in zip(row["present"], row["attended"],
                                                     strict=True)),
    ) for row in rows]


UPGRADES = [DataUpgrade("family/circles_names_and_attendance",
                        record_circles_names_and_attendance)]
