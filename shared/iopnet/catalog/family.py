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
    """What the patient lets one support person see or take part in.

    Consent to disclose is not a clinical indication: a consent covering
    ``family_participation`` lets a clinician *offer* family therapy, it never plans it.
    """

    SCHEDULE = "schedule"
    PROGRESS_SUMMARIES = "progress_summaries"
    #: The person may take part in the patient's family therapy and family sessions.
    FAMILY_PARTICIPATION = "family_participation"


#: What a consent to each scope covers while it is live: family's one definition,
#: published on every ``ConsentGranted`` as ``covers`` so no consumer derives it again.
#: The scopes are a ladder (a person holds one live grant): progress summaries include
#: the schedule, and taking part in family therapy hears of progress, so includes both.
SCOPE_COVERS: dict[ConsentScope, frozenset[ConsentScope]] = {
    ConsentScope.SCHEDULE: frozenset({ConsentScope.SCHEDULE}),
    ConsentScope.PROGRESS_SUMMARIES: frozenset(
        {ConsentScope.PROGRESS_SUMMARIES, ConsentScope.SCHEDULE}),
    ConsentScope.FAMILY_PARTICIPATION: frozenset(
        {ConsentScope.FAMILY_PARTICIPATION, ConsentScope.PROGRESS_SUMMARIES,
         ConsentScope.SCHEDULE}),
}


class SupportPersonLinked(PatientEvent):
    support_person_id: str
    relationship: Relationship


class ConsentGranted(PatientEvent):
    schema_version: ClassVar[int] = 2  # 2: covers

    consent_id: str
    support_person_id: str
    scope: ConsentScope
    expires_on: date | None = None
    #: Every scope this consent allows while live (``SCOPE_COVERS[scope]``), as family
    #: decided it when granting: consumers read this, they do not re-derive it.
    covers: list[ConsentScope]

    @property
    def covers_family_participation(self) -> bool:
        return ConsentScope.FAMILY_PARTICIPATION in self.covers


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
