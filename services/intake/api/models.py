"""Request and response shapes shared by intake's routes."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from services.intake.domain import PatientCase


class DecisionView(BaseModel):
    """Who decided the level of care; whether, and why, against the rules."""

    level: str
    rules_level: str | None
    overridden: bool | None
    decided_by: str | None
    override_reason: str | None


class CertificationView(BaseModel):
    """The physician's certification of the need for IOP, and when it must be renewed."""

    certified_by: str
    certified_on: date
    diagnosis_codes: list[str]
    recertify_by: date
    overdue: bool = Field(default=False, description="Past recertify_by at the site")


class PatientView(BaseModel):
    patient_id: uuid.UUID
    site_id: str
    status: str
    referral_id: uuid.UUID
    referral_source: str
    referred_on: date
    age_at_referral: int | None = None
    decided_level: str | None
    program_id: str | None
    start_date: date | None
    days_per_week: int | None
    planned_weeks: int | None
    clinician_id: str | None
    decision: DecisionView | None = None
    safety_plan_id: str | None = None
    certification: CertificationView | None = None
    version: int


def patient_view(case: PatientCase) -> dict[str, Any]:
    """The case as the patients table shows it, from the case itself (no second read)."""
    assert case.referral is not None and case.status is not None
    admission = case.admission
    return PatientView(
        patient_id=uuid.UUID(case.id), site_id=case.site_id, status=case.status.value,
        referral_id=uuid.UUID(case.referral.referral_id),
        referral_source=case.referral.source.value, referred_on=case.referral.referred_on,
        decided_level=case.decided_level.value if case.decided_level else None,
        program_id=admission.program_id if admission else None,
        start_date=admission.start_date if admission else None,
        days_per_week=admission.days_per_week if admission else None,
        planned_weeks=admission.planned_weeks if admission else None,
        clinician_id=admission.clinician_id if admission else None,
        decision=decision_view(case), safety_plan_id=case.safety_plan_id,
        age_at_referral=case.age_at_referral, certification=certification_view(case),
        version=case.version,
    ).model_dump(mode="json")


def decision_view(case: PatientCase) -> DecisionView | None:
    decision = case.decision
    if decision is None or case.decided_level is None:
        return None
    return DecisionView(
        level=case.decided_level.value,
        rules_level=decision.rules_level.value if decision.rules_level else None,
        overridden=decision.overridden, decided_by=decision.decided_by,
        override_reason=decision.override_reason)


def certification_view(case: PatientCase) -> CertificationView | None:
    certified = case.certification
    if certified is None:
        return None
    return CertificationView(certified_by=certified.certified_by,
                             certified_on=certified.certified_on,
                             diagnosis_codes=list(certified.diagnosis_codes),
                             recertify_by=certified.recertify_by)
