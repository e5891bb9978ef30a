"""A patient's case from referral to the level-of-care decision: the intake aggregate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from iopnet.aggregate import Aggregate
from iopnet.catalog import (
    AdmissionDeclined,
    AssessmentRecorded,
    DomainEvent,
    Instrument,
    LevelOfCare,
    PatientAdmitted,
    PatientReferred,
    PatientTransferred,
    ReferralSource,
    RiskLevel,
    RiskSignalRaised,
)
from services.intake.domain.assessment import REQUIRED_FOR_DECISION, risk_signals
from services.intake.domain.instruments import Flag, Phq9Result, Score
from services.intake.domain.level_of_care import Assessment, Decision


class CaseStatus(StrEnum):
    REFERRED = "referred"
    ADMITTED = "admitted"
    DECLINED = "declined"


class IntakeRuleBroken(Exception):
    """A command the case's current state does not allow."""


@dataclass(frozen=True)
class Referral:
    referral_id: str
    site_id: str
    source: ReferralSource
    referred_on: date


@dataclass(frozen=True)
class Admission:
    program_id: str
    start_date: date
    days_per_week: int
    planned_weeks: int
    clinician_id: str


class PatientCase(Aggregate):
    """One patient's intake, rebuilt from its events."""

    stream_prefix = "patient"

    def __init__(self, patient_id: str) -> None:
        super().__init__(patient_id)
        self.site_id = ""
        self.status: CaseStatus | None = None
        self.source = ReferralSource.SELF
        self.assessed: set[Instrument] = set()

    @property
    def patient_id(self) -> str:
        return self.id

    def refer(self, referral: Referral) -> None:
        if self.status is not None:
            raise IntakeRuleBroken("this patient has already been referred")
        self.record(PatientReferred(
            patient_id=self.id, site_id=referral.site_id, referral_id=referral.referral_id,
            source=referral.source, referred_on=referral.referred_on,
        ))

    def record_assessment(self, assessment_id: str, result: Score[Any], on: date,
                          clinician_id: str | None = None) -> None:
        """An instrument of the initial assessment; risk found in it raises an alert."""
        self._require_undecided()
        self.record(AssessmentRecorded(
            patient_id=self.id, site_id=self.site_id, assessment_id=assessment_id,
            instrument=result.instrument, total=result.total, band=result.band.value,
            item9=result.item9 if isinstance(result, Phq9Result) else None,
            positive=result.has(Flag.POSITIVE_SCREEN), assessed_on=on,
        ))
        for signal in risk_signals(result):
            self.record(RiskSignalRaised(patient_id=self.id, site_id=self.site_id,
                                         signal=signal, observed_on=on,
                                         clinician_id=clinician_id))

    def admit(self, admission: Admission, assessment: Assessment, decision: Decision) -> None:
        self._require_decidable()
        if decision.decided is not LevelOfCare.IOP:
            raise IntakeRuleBroken(
                f"the decided level of care is {decision.decided.value}, not IOP: "
                "decline the admission, or override the recommendation with a reason")
        self.record(PatientAdmitted(
            patient_id=self.id, site_id=self.site_id,
            program_id=admission.program_id, start_date=admission.start_date,
            days_per_week=admission.days_per_week, planned_weeks=admission.planned_weeks,
            clinician_id=admission.clinician_id,
            baseline_phq9=assessment.phq9.total,
            baseline_gad7=assessment.gad7.total if assessment.gad7 else None,
            auditc_positive=bool(assessment.auditc and assessment.auditc.positive),
            risk_level=RiskLevel(assessment.cssrs.risk.value),
            co_occurring=[c.value for c in decision.recommendation.co_occurring],
            recommended_level=decision.recommended, overridden=decision.overridden,
        ))

    def decline(self, decision: Decision) -> None:
        self._require_decidable()
        if decision.decided is LevelOfCare.IOP:
            raise IntakeRuleBroken("IOP was decided: admit the patient instead")
        self.record(AdmissionDeclined(
            patient_id=self.id, site_id=self.site_id, recommended_level=decision.decided,
            reason_codes=[code.value for code in decision.recommendation.reason_codes],
            urgent=decision.recommendation.urgent_alert,
        ))

    def transfer(self, to_site_id: str) -> None:
        if to_site_id == self.site_id:
            raise IntakeRuleBroken("the patient is already at that site")
        self.record(PatientTransferred(
            patient_id=self.id, site_id=to_site_id, from_site_id=self.site_id,
        ))

    def _require_undecided(self) -> None:
        if self.status is CaseStatus.ADMITTED:
            raise IntakeRuleBroken("this patient is already admitted")
        if self.status is CaseStatus.DECLINED:
            raise IntakeRuleBroken("the admission was declined")

    def _require_decidable(self) -> None:
        self._require_undecided()
        missing = [i.value for i in REQUIRED_FOR_DECISION if i not in self.assessed]
        if missing:
            raise IntakeRuleBroken(f"record {' and '.join(missing)} before deciding")

    def apply(self, event: DomainEvent) -> None:
        match event:
            case PatientReferred():
                self.site_id = event.site_id
                self.source = event.source
                self.status = CaseStatus.REFERRED
            case AssessmentRecorded():
                self.assessed.add(event.instrument)
            case PatientAdmitted():
                self.status = CaseStatus.ADMITTED
            case AdmissionDeclined():
                self.status = CaseStatus.DECLINED
            case PatientTransferred():
                self.site_id = event.site_id
