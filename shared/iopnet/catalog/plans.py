"""Events that plans publishes: treatment plans, their revisions, and where care goes next."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from iopnet.catalog.base import EventPart, PatientEvent
from iopnet.catalog.codes import LevelOfCare, Modality


class PlanEvent(PatientEvent):
    """A fact of a patient's plan. Plans drafts the plan on intake's ``PatientAdmitted``,
    so a consumer of both topics applies it only after that admission."""

    abstract: ClassVar[bool] = True
    follows: ClassVar[tuple[str, ...]] = ("iopnet.PatientAdmitted",)


class PlannedIntervention(EventPart):
    intervention_id: str
    modality: Modality
    sessions_per_week: int = Field(ge=0, le=7)


class PlanDrafted(PlanEvent):
    plan_id: str
    revision: int = 1
    problem_codes: list[str]
    interventions: list[PlannedIntervention]
    target_date: date
    clinician_id: str


class RevisionReason(StrEnum):
    PROGRESS = "progress"
    LACK_OF_PROGRESS = "lack_of_progress"
    RISK = "risk"
    PATIENT_PREFERENCE = "patient_preference"
    CLINICAL_JUDGEMENT = "clinical_judgement"
    FAMILY_CONSENT = "family_consent"
    """Recorded by plans itself: family therapy follows the patient's live consents."""


class PlanRevised(PlanEvent):
    """A new revision. ``changes`` are codes (added:I7, removed:I3, frequency:I2:3->2)."""

    plan_id: str
    revision: int = Field(ge=2)
    changes: list[str]
    reason: RevisionReason
    interventions: list[PlannedIntervention]


class SteppedDown(PlanEvent):
    to_level: LevelOfCare = LevelOfCare.STANDARD_OUTPATIENT
    effective_on: date
    aftercare: list[str] = Field(description="Aftercare / relapse-prevention item codes")
    follow_up_within_days: int = Field(ge=1, le=60)


class SteppedUp(PlanEvent):
    to_level: LevelOfCare
    effective_on: date
    reason_codes: list[str]


class DischargeOutcome(StrEnum):
    COMPLETED = "completed"
    LEFT_AGAINST_ADVICE = "left_against_advice"
    TRANSFERRED = "transferred"


class Discharged(PlanEvent):
    outcome: DischargeOutcome
    effective_on: date


class Phq9Trend(StrEnum):
    """Where a PHQ-9 stands against the baseline: plans' one definition of "improving"."""

    IMPROVING = "improving"
    STABLE = "stable"
    WORSENING = "worsening"


class ProgressJudged(PatientEvent):
    """Plans' judgement of one PHQ-9 measured in the program (sessions' ``OutcomeMeasured``)
    against the baseline: the one "improving" every service uses (a family update
    included). ``trend``: improving (5 points or more below the baseline, or a response),
    worsening (5 or more above), stable otherwise."""

    measure_id: str
    measured_on: date
    program_week: int = Field(ge=1)
    baseline_phq9: int = Field(ge=0, le=27)
    total: int = Field(ge=0, le=27)
    trend: Phq9Trend
    response: bool = Field(description="At least 50% below the baseline")
    remission: bool = Field(description="Below 5")


class ExitSummarized(PatientEvent):
    """The summary recorded on every exit (step-down, step-up, discharge): codes and
    numbers only. ``urgent_alert``: the patient left against advice, a clinician must act
    today. ``follow_up_within_days``: the aftercare follow-up (HEDIS FUH: 7, at most 30)."""

    exit: str = Field(description="stepped_down | stepped_up | discharged")
    effective_on: date
    baseline_phq9: int = Field(ge=0, le=27)
    first_phq9: int | None = Field(default=None, ge=0, le=27)
    last_phq9: int | None = Field(default=None, ge=0, le=27)
    response: bool = Field(description="The last PHQ-9 at least 50% below the baseline")
    remission: bool = Field(description="The last PHQ-9 below 5")
    sessions_attended: int = Field(ge=0)
    sessions_scheduled: int = Field(ge=0)
    risk_signals: list[str] = Field(description="Every risk signal of the episode, by code")
    safety_plan: str = Field(description="recorded | not_recorded (from intake's "
                             "SafetyPlanRecorded); unknown only at v1")
    follow_up_within_days: int | None = Field(default=None, ge=1, le=30)
    urgent_alert: bool = False
    #: v2: whether the safety plan was written or reviewed on or after the episode's latest
    #: risk finding; None when risk was never found (and at v1: not recorded then).
    safety_plan_reviewed_since_risk: bool | None = None

    schema_version: ClassVar[int] = 2
