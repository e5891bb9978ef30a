"""Events that sessions publishes: the schedule, attendance and outcome measures."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from iopnet.catalog.base import EventPart, PatientEvent
from iopnet.catalog.codes import Instrument, LevelOfCare, Modality, RiskLevel


class SessionKind(StrEnum):
    GROUP = "group"
    INDIVIDUAL = "individual"


class ScheduledSession(EventPart):
    """One session of a schedule: a group's meeting on a date, or an individual session.
    A session the patient already has is replaced by it (the latest is the truth): that
    is how a waitlisted patient takes a place (``waitlisted`` false) and how a cancelled
    session is scheduled again."""

    session_id: str
    kind: SessionKind
    modality: Modality
    group_id: str | None = None
    starts_at: datetime
    duration_minutes: int = Field(gt=0)
    clinician_id: str
    waitlisted: bool = False


class SessionsScheduled(PatientEvent):
    """One scheduling decision and every session it scheduled: the admission's weeks, a
    plan revision's added sessions, the days a clinician changed, places taken from the
    waitlist. One event a decision, not one a session: an admission schedules some fifty
    sessions, and each consumer applies them in one transaction (docs/architecture.md,
    "Event granularity")."""

    sessions: list[ScheduledSession] = Field(min_length=1)


class SessionScheduled(ScheduledSession, PatientEvent):
    """One session scheduled, one event a session: what releases before
    ``SessionsScheduled`` recorded. No longer recorded; still read, in old streams and from
    an older producer, as a schedule of that one session (``as_schedule``)."""

    def as_schedule(self) -> SessionsScheduled:
        return SessionsScheduled(
            site_id=self.site_id, patient_id=self.patient_id,
            sessions=[ScheduledSession.model_validate(
                self.model_dump(include=set(ScheduledSession.model_fields)))])


def schedule_of(event: SessionScheduled | SessionsScheduled) -> SessionsScheduled:
    """Either event as the schedule it is: a ``SessionScheduled`` is a schedule of one."""
    return event.as_schedule() if isinstance(event, SessionScheduled) else event


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
