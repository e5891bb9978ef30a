"""Request and response shapes of plans' routes."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from iopnet.catalog import DischargeOutcome, LevelOfCare, Modality, Phq9Trend, RevisionReason
from iopnet.fields import Identifier, Strict
from services.plans.domain import AftercareItem
from services.plans.domain.step_down import StepUpReasonCode
from services.plans.domain.treatment_plan import STEP_UP_LEVELS

InterventionId = Annotated[str, Field(pattern=r"^I[1-9][0-9]{0,3}$", examples=["I3"])]
ObjectiveId = Annotated[str, Field(pattern=r"^P[0-9]+\.G[0-9]+\.O[0-9]+$",
                                   examples=["P1.G1.O1"])]
PerWeek = Annotated[int, Field(ge=1, le=7)]


# --- Requests -----------------------------------------------------------------------------


class AddIntervention(Strict):
    change: Literal["add_intervention"]
    modality: Modality
    sessions_per_week: PerWeek
    addresses: list[ObjectiveId] = Field(min_length=1, description="Objective ids")
    clinician_id: Identifier | None = Field(
        default=None, description="The responsible clinician; defaults to the plan's.")
    target_date: date | None = Field(default=None, description="Defaults to the plan's.")


class RemoveIntervention(Strict):
    change: Literal["remove_intervention"]
    intervention_id: InterventionId


class ChangeFrequency(Strict):
    change: Literal["change_frequency"]
    intervention_id: InterventionId
    sessions_per_week: PerWeek


PlanChange = Annotated[AddIntervention | RemoveIntervention | ChangeFrequency,
                       Field(discriminator="change")]


class RevisionRequest(Strict):
    changes: list[PlanChange] = Field(min_length=1, max_length=20)
    reason: RevisionReason = Field(description="Any reason but family_consent, which only "
                                   "plans records, following the family service's consents")
    note: str | None = Field(default=None, max_length=2000,
                             description="Free text; kept in plans only, never on an event.")

    @field_validator("reason")
    @classmethod
    def a_clinicians_reason(cls, value: RevisionReason) -> RevisionReason:
        if value is RevisionReason.FAMILY_CONSENT:
            raise ValueError("family_consent revisions are recorded by plans itself")
        return value


class StepDownRequest(Strict):
    clinician_id: Identifier
    effective_on: date
    follow_up_within_days: int = Field(
        default=7, ge=1, le=30, description="Aftercare follow-up: 7 days by default, 30 at "
        "most (HEDIS FUH)")
    aftercare: list[AftercareItem] = Field(min_length=1)
    as_of: date | None = Field(
        default=None, description="Must be today at the site, or left out: a step-down is "
        "evaluated on everything known at the time of the request (GET "
        "/step-down-evaluation?as_of= looks at another day).")
    backdate_reason: str | None = Field(
        default=None, min_length=10, max_length=2000,
        description="Required when effective_on is before today at the site: why the "
        "step-down takes effect on a past day. Kept in plans only.")
    override_reason: str | None = Field(
        default=None, min_length=10, max_length=2000,
        description="A clinician's reason to step down although criteria are unmet (not the "
        "no-risk-signals criterion). Kept in plans only.")


class StepUpRequest(Strict):
    to_level: LevelOfCare = Field(examples=["partial_hospitalization"])
    reason_codes: list[StepUpReasonCode] = Field(min_length=1)
    effective_on: date
    clinician_id: Identifier

    @field_validator("to_level")
    @classmethod
    def higher_level(cls, level: LevelOfCare) -> LevelOfCare:
        if level not in STEP_UP_LEVELS:
            raise ValueError("a step-up goes to partial_hospitalization or inpatient")
        return level


class DischargeRequest(Strict):
    outcome: DischargeOutcome
    effective_on: date
    clinician_id: Identifier | None = None
    follow_up_within_days: int | None = Field(
        default=None, ge=1, le=30, description="Aftercare follow-up: 7 days unless said, 30 at "
        "most (HEDIS FUH); none for a transfer")


# --- Responses ----------------------------------------------------------------------------


class TransitionView(BaseModel):
    kind: str
    effective_on: date
    to_level: str | None
    aftercare: list[str] | None
    follow_up_within_days: int | None
    reason_codes: list[str] | None
    outcome: str | None
    clinician_id: str | None
    overridden_criteria: list[str] | None
    recorded_at: datetime
    summary: dict[str, Any] | None = Field(
        default=None, description="The exit's summary (ExitSummarized): first and last PHQ-9, "
        "response, remission, attendance, risk signals, safety plan, follow-up, urgent alert")


class CareEpisodeView(BaseModel):
    patient_id: uuid.UUID
    site_id: str
    program_id: str
    clinician_id: str
    starts_on: date
    planned_end: date
    days_per_week: int
    planned_weeks: int
    plan_status: str
    revision: int | None
    transition: TransitionView | None


class ObjectiveView(BaseModel):
    objective_id: str
    text: str
    target_date: date


class GoalView(BaseModel):
    goal_id: str
    text: str
    objectives: list[ObjectiveView]


class ProblemView(BaseModel):
    problem_id: str
    code: str
    text: str
    goals: list[GoalView]


class InterventionView(BaseModel):
    intervention_id: str
    modality: str
    sessions_per_week: int
    clinician_id: str
    target_date: date
    addresses: list[str]


class PlanView(BaseModel):
    patient_id: uuid.UUID
    plan_id: uuid.UUID
    revision: int
    status: str
    start_date: date
    target_date: date
    clinician_id: str
    problems: list[ProblemView]
    interventions: list[InterventionView]


class RevisionView(BaseModel):
    revision: int
    at: datetime
    kind: Literal["drafted", "revised"]
    reason: RevisionReason | None
    note: str | None
    by: str | None = Field(description="The API key id that recorded it; none: plans did, "
                           "on admission or following family consent")
    change_codes: list[str]
    changes: list[dict[str, Any]]
    interventions: list[dict[str, Any]]


class AttendanceView(BaseModel):
    scheduled_to_date: int
    attended: int
    missed_excused: int
    missed_unexcused: int
    late: int
    upcoming: int
    waitlisted: int
    attendance_rate: float | None


class TrajectoryPointView(BaseModel):
    measured_on: date
    program_week: int
    total: int
    item9: int | None
    change_from_baseline: int
    response: bool
    remission: bool
    trend: Phq9Trend = Field(description="improving | stable | worsening: the one definition")


class Phq9View(BaseModel):
    baseline: int
    latest: int | None
    response: bool
    remission: bool
    trend: Phq9Trend | None = Field(description="The latest measure's; none before any")
    trajectory: list[TrajectoryPointView]


class RiskSignalView(BaseModel):
    signal: str
    observed_on: date


class ObjectiveProgressView(BaseModel):
    objective_id: str
    problem_code: str
    status: str
    detail: str


class ReasonView(BaseModel):
    code: str
    text: str


class StepUpView(BaseModel):
    indicated: bool
    review_required: bool
    reasons: list[ReasonView]


class ProgressView(BaseModel):
    patient_id: uuid.UUID
    as_of: date
    plan_status: str
    program_week: int
    attendance: AttendanceView
    phq9: Phq9View
    risk_signals: list[RiskSignalView]
    goals: list[ObjectiveProgressView]
    goals_met: int
    step_up: StepUpView


class CriterionView(BaseModel):
    code: str
    met: bool
    detail: str


class PolicyView(BaseModel):
    min_weeks_in_program: int
    phq9_threshold: int
    response_drop: float
    consecutive_measures: int
    min_attendance_rate: float


class SafetyPlanView(BaseModel):
    """The safety plan (intake's) against the episode's risk findings."""

    required: bool = Field(description="Risk was found in the episode")
    status: str = Field(description="recorded | not_recorded")
    last_risk_finding_on: date | None
    recorded_on: date | None
    last_reviewed_on: date | None = Field(description="The latest day it was written or "
                                          "reviewed")
    reviewed_since_last_finding: bool | None = Field(
        description="Written or reviewed on or after the latest risk finding; none without "
        "a finding")
    allows_step_down_or_discharge: bool = Field(
        description="A step-down or a completed discharge needs it reviewed since the latest "
        "finding; a step-up, leaving against advice or a transfer never waits for it")
    needed: str | None = Field(description="What is missing first, in words")


class EvaluationView(BaseModel):
    patient_id: uuid.UUID
    as_of: date
    plan_status: str
    eligible: bool
    unmet: list[str]
    criteria: list[CriterionView]
    policy: PolicyView
    step_up: StepUpView
    safety_plan: SafetyPlanView
