"""Family's private events: facts it keeps to itself, in its own event store, never on Kafka.

The published events (``iopnet.catalog.family``) carry identifiers and codes only; what
else family knows is recorded here. A support person's name is sealed with the
patient's data key, so it reads as None once the patient is forgotten.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from iopnet.catalog import EventPart, PrivatePatientEvent


class FamilyCircleOpened(PrivatePatientEvent):
    """The circle opens at the admitting site (``site_id``), in reaction to PatientAdmitted;
    the baseline PHQ-9 is kept as admitted (the trend shown is plans' ProgressJudged)."""

    admitted_on: date
    baseline_phq9: int | None = None


class FamilyCircleMoved(PrivatePatientEvent):
    """The patient was transferred: the circle now belongs to ``site_id``."""

    from_site_id: str


class FamilyCircleForgotten(PrivatePatientEvent):
    """The patient was forgotten: the circle takes no more commands."""


class SupportPersonNamed(PrivatePatientEvent):
    """Who a linked support person is; recorded beside the published SupportPersonLinked."""

    sealed_fields: ClassVar[tuple[str, ...]] = ("given_name", "family_name")

    support_person_id: str
    given_name: str | None
    family_name: str | None


class AttendanceEntry(EventPart):
    support_person_id: str
    attended: bool


class FamilySessionRecorded(PrivatePatientEvent):
    """A held family session in full: its clinician and who attended (the published
    FamilySessionHeld carries only a count)."""

    family_session_id: str
    kind: str
    held_on: date
    clinician_id: str
    attendance: tuple[AttendanceEntry, ...]
