"""Request and response shapes of family's routes."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from iopnet.catalog import ConsentScope, Phq9Trend, Relationship, SessionKind
from iopnet.fields import Identifier, Strict
from services.family.domain import CareStatus, ConsentStatus, FamilySessionKind

Name = Annotated[str, Field(min_length=1, max_length=100)]


class LinkRequest(Strict):
    relationship: Relationship
    given_name: Name
    family_name: Name


class GrantRequest(Strict):
    scope: ConsentScope = Field(
        description="progress_summaries includes the schedule; family_participation (taking "
        "part in family therapy) includes both")
    expires_on: date | None = Field(
        default=None, description="The last day the consent holds; none: until revoked")


class AttendanceEntry(Strict):
    support_person_id: uuid.UUID
    attended: bool


class FamilySessionRequest(Strict):
    kind: FamilySessionKind
    held_on: date
    clinician_id: Identifier
    attendance: list[AttendanceEntry] = Field(min_length=1, max_length=20)


class SupportPersonView(BaseModel):
    support_person_id: uuid.UUID
    patient_id: uuid.UUID
    relationship: Relationship
    given_name: str
    family_name: str
    linked_at: datetime
    sharing: list[ConsentScope] = Field(description="What live consent allows today")


class ConsentView(BaseModel):
    consent_id: uuid.UUID
    support_person_id: uuid.UUID
    scope: ConsentScope
    expires_on: date | None
    granted_at: datetime
    revoked_at: datetime | None
    status: ConsentStatus


class FamilySessionView(BaseModel):
    family_session_id: uuid.UUID
    patient_id: uuid.UUID
    kind: FamilySessionKind
    held_on: date
    clinician_id: str
    attendance: list[AttendanceEntry]


class CircleMember(BaseModel):
    support_person_id: uuid.UUID
    relationship: Relationship
    sharing: list[ConsentScope]


class CircleView(BaseModel):
    patient_id: uuid.UUID
    site_id: str
    admitted_on: date
    care_status: CareStatus | None
    support_persons: list[CircleMember]


class SharedSession(BaseModel):
    """A session as family may see it: when, how long, group or individual. Nothing clinical."""

    starts_at: datetime
    duration_minutes: int
    kind: SessionKind


class ScheduleShared(BaseModel):
    scope: Literal[ConsentScope.SCHEDULE] = ConsentScope.SCHEDULE
    upcoming_sessions: list[SharedSession]


class ProgressShared(BaseModel):
    """A direction and where care stands; never scores or answers."""

    scope: Literal[ConsentScope.PROGRESS_SUMMARIES] = ConsentScope.PROGRESS_SUMMARIES
    trend: Phq9Trend | None = Field(description="Plans' judgement of the latest PHQ-9 against "
                                    "the baseline (ProgressJudged); none yet measured")
    care_status: CareStatus | None
    status_since: date | None


class SharedView(BaseModel):
    patient_id: uuid.UUID
    support_person_id: uuid.UUID
    as_of: date
    scopes: list[ConsentScope] = Field(description="What live consent allows as of today")
    shared: list[Annotated[ScheduleShared | ProgressShared, Field(discriminator="scope")]]
