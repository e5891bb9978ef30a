"""Events that intake publishes: referrals, assessments and level-of-care decisions."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field

from iopnet.catalog.base import PatientEvent


class ReferralSource(StrEnum):
    SELF = "self"
    PROVIDER = "provider"
    INPATIENT_STEP_DOWN = "inpatient_step_down"


class PatientReferred(PatientEvent):
    referral_id: str
    source: ReferralSource
    referred_on: date


class PatientAdmitted(PatientEvent):
    program_id: str
    start_date: date
    days_per_week: int = Field(ge=3, le=5)
    planned_weeks: int = Field(ge=8, le=12)
    clinician_id: str
