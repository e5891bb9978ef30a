"""Events that family publishes: support persons and the patient's consent to share."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar

from iopnet.catalog.base import PatientEvent


class Relationship(StrEnum):
    PARENT = "parent"
    PARTNER = "partner"
    SIBLING = "sibling"
    CHILD = "child"
    FRIEND = "friend"
    OTHER = "other"


class ConsentScope(StrEnum):
    """What may be shared with one support person. Progress includes the schedule."""

    SCHEDULE = "schedule"
    PROGRESS_SUMMARIES = "progress_summaries"


class SupportPersonLinked(PatientEvent):
    support_person_id: str
    relationship: Relationship


class ConsentGranted(PatientEvent):
    consent_id: str
    support_person_id: str
    scope: ConsentScope
    expires_on: date | None = None


class ConsentRevoked(PatientEvent):
    schema_version: ClassVar[int] = 2  # 2: replaced_by

    consent_id: str
    support_person_id: str
    #: Set when a new grant for the same person replaces this one; that grant follows
    #: in the same stream, so the person is never without consent in between.
    replaced_by: str | None = None


class ConsentExpired(PatientEvent):
    """A consent reached the end of its ``expires_on`` day without being revoked."""

    consent_id: str
    support_person_id: str
    #: The first day it no longer holds (the day after ``expires_on``).
    expired_on: date


class FamilySessionHeld(PatientEvent):
    family_session_id: str
    kind: str
    held_on: date
    support_persons_present: int
