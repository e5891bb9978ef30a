"""Events that sessions publishes: the schedule, attendance and outcome measures."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from iopnet.catalog.base import PatientEvent
from iopnet.catalog.codes import Instrument, LevelOfCare, Modality, RiskLevel


class SessionKind(StrEnum):
    GROUP = "group"
    INDIVIDUAL = "individual"


class SessionScheduled(PatientEvent):
    session_id: str
    kind: SessionKind
    modality: Modality
    group_id: str | None = None
    starts_at: datetime
    duration_minutes: int = Field(gt=0)
    clinician_id: str
    waitlisted: bool = False


class SessionAttended(PatientEvent):
    session_id: str
    late_minutes: int = Field(default=0, ge=0)
    credited_minutes: int = Field(ge=0)
    attended_on: date


class SessionMissed(PatientEvent):
    session_id: str
    excused: bool
    missed_on: date


class SessionsCancelled(PatientEvent):
    session_ids: list[str]
    reason: str = Field(description="The event type that ended the program, e.g. SteppedDown")


class OutcomeMeasured(PatientEvent):
    """A measure taken in the program: the PHQ-9, the GAD-7, or the C-SSRS screener
    ("since last visit"), whose ``total`` is its number of yes answers and whose triage
    is ``risk_level``."""

    schema_version: ClassVar[int] = 2  # 2: risk_level

    measure_id: str
    instrument: Instrument
    total: int = Field(ge=0)
    item9: int | None = Field(default=None, ge=0, le=3)
    measured_on: date
    program_week: int = Field(ge=1)
    risk_level: RiskLevel | None = Field(default=None, description="C-SSRS triage")


class CssrsDue(PatientEvent):
    """PHQ-9 item 9 above 0: a C-SSRS screen is due that day (a task for the clinicians,
    done by the first C-SSRS measured on or after ``due_on``)."""

    due_on: date
    phq9_measure_id: str


class OutreachNeeded(PatientEvent):
    """Consecutive unexcused absences reached the site's threshold."""

    consecutive_absences: int = Field(ge=1)
    last_missed_session_id: str


class AttendanceBelowMinimum(PatientEvent):
    week_starting: date
    hours: float
    minimum_hours: float


class ScheduleRefused(PatientEvent):
    """The program's groups on the patient's days cannot make a week at the level of care
    (an IOP: 9 hours at least, under 20): nothing was scheduled, a clinician must act
    (more days, other groups). Recorded again only when the hours it reaches change."""

    program_id: str
    level: LevelOfCare
    days_per_week: int = Field(ge=1, le=7)
    planned_weekly_hours: float = Field(ge=0)
    minimum_hours: float
    below_hours: float | None = Field(
        default=None, description="The level's ceiling, not reached (an IOP: under 20)")
