"""Events that intake publishes: referrals, assessments and level-of-care decisions.

Who decided travels (clinician ids); why a clinician decided against the rules,
corrected an assessment or reviewed a risk is free text and stays in intake, in
private events beside these.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from iopnet.catalog.base import PatientEvent
from iopnet.catalog.codes import Instrument, LevelOfCare, RiskLevel, RiskSignal


class ReferralSource(StrEnum):
    SELF = "self"
    PROVIDER = "provider"
    INPATIENT_STEP_DOWN = "inpatient_step_down"


class PatientReferred(PatientEvent):
    referral_id: str
    source: ReferralSource
    referred_on: date
    #: v2: whole years on the referral day (v1: not recorded, None).
    age_at_referral: int | None = Field(default=None, ge=0)

    schema_version: ClassVar[int] = 2


class AssessmentRecorded(PatientEvent):
    """One scored instrument. The item answers stay in intake; item 9 travels (risk)."""

    assessment_id: str
    instrument: Instrument
    total: int = Field(ge=0)
    band: str
    item9: int | None = Field(default=None, ge=0, le=3)
    positive: bool
    assessed_on: date


class PatientAdmitted(PatientEvent):
    program_id: str
    start_date: date
    days_per_week: int = Field(ge=3, le=5)
    planned_weeks: int = Field(ge=8, le=12)
    clinician_id: str
    baseline_phq9: int = Field(ge=0, le=27)
    baseline_gad7: int | None = Field(default=None, ge=0, le=21)
    auditc_positive: bool = False
    risk_level: RiskLevel = RiskLevel.NONE
    co_occurring: list[str] = Field(default_factory=list)
    recommended_level: LevelOfCare = LevelOfCare.IOP
    overridden: bool = False
    #: v2: the clinician who decided the admission (v1 upcasts to the assigned clinician,
    #: who did); intake always sets it.
    decided_by: str | None = None
    #: v2: the safety plan in force at admission, when risk was found (v1: None).
    safety_plan_id: str | None = None

    schema_version: ClassVar[int] = 2


class AdmissionDeclined(PatientEvent):
    """Not an IOP admission. ``recommended_level`` is the level the patient is referred to."""

    recommended_level: LevelOfCare
    reason_codes: list[str]
    urgent: bool
    #: v2: who decided; whether against the rules, and what they recommended (v1: unknown).
    decided_by: str | None = None
    overridden: bool | None = None
    rules_level: LevelOfCare | None = None

    schema_version: ClassVar[int] = 2


class AssessmentEnteredInError(PatientEvent):
    """A clinician corrected an assessment as entered in error: it no longer counts for
    anything, its risk findings included. The reason stays in intake."""

    assessment_id: str
    clinician_id: str
    corrected_on: date


class RiskReviewed(PatientEvent):
    """A clinician's documented risk review (the same-day evaluation a finding calls for).

    ``findings_cleared``: the clinician judged the findings recorded before the review no
    longer current; otherwise they stay in force. The reasoning stays in intake.
    """

    review_id: str
    clinician_id: str
    reviewed_on: date
    findings_cleared: bool


class SafetyPlanRecorded(PatientEvent):
    """A Stanley-Brown safety plan was written with the patient (its content stays in intake)."""

    safety_plan_id: str
    clinician_id: str
    recorded_on: date


class SafetyPlanReviewed(PatientEvent):
    """The safety plan was reviewed with the patient, and possibly rewritten."""

    safety_plan_id: str
    clinician_id: str
    reviewed_on: date


class PatientCertified(PatientEvent):
    """A physician certified the need for IOP: who, when, for which diagnoses, and the date
    by which the need must be recertified (42 CFR 424.24(e))."""

    certification_id: str
    certified_by: str
    certified_on: date
    diagnosis_codes: list[str]
    recertify_by: date


class RiskSignalRaised(PatientEvent):
    """A clinician must review the patient the same day (raised by whoever measured it)."""

    signal: RiskSignal
    observed_on: date
    clinician_id: str | None = None


class PatientForgotten(PatientEvent):
    """The patient's personal data is to be erased network-wide (crypto-shredding).

    Every service destroys the patient's data keys and deletes its derived rows
    for the patient; the events stay, their sealed fields unreadable forever.
    ``retention_overridden`` says an operator forgot inside the retention period,
    with a reason that intake keeps.
    """

    retention_overridden: bool = False
