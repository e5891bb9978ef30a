"""Events that intake publishes: referrals, assessments and level-of-care decisions."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

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


class AdmissionDeclined(PatientEvent):
    recommended_level: LevelOfCare
    reason_codes: list[str]
    urgent: bool


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
