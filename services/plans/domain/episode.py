"""A patient's care episode as plans knows it: what the admission established. Pure; no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from iopnet.catalog import PatientAdmitted
from services.plans.domain.plan_drafting import Findings, RiskLevel


class PlanStatus(StrEnum):
    AWAITING_DRAFT = "awaiting_draft"
    ACTIVE = "active"
    STEPPED_DOWN = "stepped_down"
    STEPPED_UP = "stepped_up"
    DISCHARGED = "discharged"

    @property
    def closed(self) -> bool:
        return self in (PlanStatus.STEPPED_DOWN, PlanStatus.STEPPED_UP, PlanStatus.DISCHARGED)


@dataclass(frozen=True)
class CareEpisode:
    patient_id: str
    site_id: str
    program_id: str
    clinician_id: str
    starts_on: date
    planned_end: date
    days_per_week: int
    planned_weeks: int
    baseline_phq9: int
    baseline_gad7: int | None
    auditc_positive: bool
    risk_level: str
    co_occurring: tuple[str, ...]

    def findings(self) -> Findings:
        """What the plan is drafted from."""
        return Findings(
            baseline_phq9=self.baseline_phq9,
            risk=_drafting_risk(self.risk_level),
            auditc_positive=self.auditc_positive,
            days_per_week=self.days_per_week,
            planned_weeks=self.planned_weeks,
            start_date=self.starts_on,
            clinician_id=self.clinician_id,
            gad7=self.baseline_gad7,
        )


def open_episode(admitted: PatientAdmitted) -> CareEpisode:
    """The episode a treatment plan is drafted for, from the admission."""
    return CareEpisode(
        patient_id=admitted.patient_id,
        site_id=admitted.site_id,
        program_id=admitted.program_id,
        clinician_id=admitted.clinician_id,
        starts_on=admitted.start_date,
        planned_end=admitted.start_date + timedelta(weeks=admitted.planned_weeks),
        days_per_week=admitted.days_per_week,
        planned_weeks=admitted.planned_weeks,
        baseline_phq9=admitted.baseline_phq9,
        baseline_gad7=admitted.baseline_gad7,
        auditc_positive=admitted.auditc_positive,
        risk_level=admitted.risk_level.value,
        co_occurring=tuple(admitted.co_occurring),
    )


def _drafting_risk(risk_level: str) -> RiskLevel:
    # High risk reaches plans only when a clinician overrode the level-of-care rule and
    # admitted anyway: the plan must still exist, with the safety goal a moderate risk gets.
    risk = RiskLevel(risk_level)
    return RiskLevel.MODERATE if risk is RiskLevel.HIGH else risk
