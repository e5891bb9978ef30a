"""Intake's private facts: recorded in its event store, never published.

Who the patient is and what they answered are personal data, sealed with the
patient's data key; they read as None once the patient is forgotten. Why an
operator ordered the forgetting is not personal data and stays readable. A clinician's
reasons (an override, a correction, a risk review) and the safety plan are free text
about the patient: sealed too.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from iopnet.catalog import Instrument, LevelOfCare, PrivatePatientEvent
from services.intake.domain.safety_plan import SafetyPlan


class Guardian(BaseModel):
    """A minor's parent or legal guardian."""

    model_config = ConfigDict(frozen=True)

    given_name: str
    family_name: str
    relationship: str


class Identity(BaseModel):
    model_config = ConfigDict(frozen=True)

    given_name: str
    family_name: str
    birth_date: date
    guardian: Guardian | None = None


class PatientIdentityRecorded(PrivatePatientEvent):
    """Who was referred: recorded with the referral."""

    sealed_fields: ClassVar[tuple[str, ...]] = ("identity",)

    identity: Identity | None


class Answers(BaseModel):
    """One instrument's answers as the clinician's system sent them."""

    model_config = ConfigDict(frozen=True)

    items: list[Any] | None = None
    answers: dict[str, Any] | None = None
    sex_at_birth: str | None = None


class AssessmentAnswered(PrivatePatientEvent):
    """The item answers behind an ``AssessmentRecorded`` of the same ``assessment_id``."""

    sealed_fields: ClassVar[tuple[str, ...]] = ("answers",)

    assessment_id: str
    instrument: Instrument
    answers: Answers | None


class ForgettingOrdered(PrivatePatientEvent):
    """An operator ordered the patient forgotten: who (key), why, and past which date."""

    reason: str
    key_id: str
    retained_until: date
    retention_overridden: bool


class OverrideReasoned(PrivatePatientEvent):
    """Why a clinician decided another level than the rules recommended (beside the
    ``PatientAdmitted`` or ``AdmissionDeclined`` that carries ``overridden``)."""

    sealed_fields: ClassVar[tuple[str, ...]] = ("reason",)

    decided_by: str
    decided_level: LevelOfCare
    reason: str | None


class CorrectionNoted(PrivatePatientEvent):
    """Why an assessment was corrected as entered in error (beside ``AssessmentEnteredInError``)."""

    sealed_fields: ClassVar[tuple[str, ...]] = ("reason",)

    assessment_id: str
    reason: str | None


class RiskReviewNoted(PrivatePatientEvent):
    """The clinician's reasoning in a risk review (beside ``RiskReviewed``)."""

    sealed_fields: ClassVar[tuple[str, ...]] = ("reason",)

    review_id: str
    reason: str | None


class SafetyPlanWritten(PrivatePatientEvent):
    """The safety plan's content (beside ``SafetyPlanRecorded`` or ``SafetyPlanReviewed``)."""

    sealed_fields: ClassVar[tuple[str, ...]] = ("plan",)

    safety_plan_id: str
    plan: SafetyPlan | None
