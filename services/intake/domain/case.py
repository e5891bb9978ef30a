"""A patient's case from referral to the level-of-care decision: the intake aggregate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from iopnet.aggregate import Aggregate
from iopnet.catalog import (
    AdmissionDeclined,
    AssessmentRecorded,
    DomainEvent,
    Instrument,
    LevelOfCare,
    PatientAdmitted,
    PatientForgotten,
    PatientReferred,
    PatientTransferred,
    ReferralSource,
    RiskLevel,
    RiskSignalRaised,
)
from services.intake.domain.assessment import (
    REQUIRED_FOR_DECISION,
    Responses,
    Scored,
    initial_assessment,
    risk_signals,
    score,
)
from services.intake.domain.instruments import Flag, Phq9Result
from services.intake.domain.level_of_care import (
    Assessment,
    Decision,
    Recommendation,
    accept,
    override,
)
from services.intake.domain.private_events import (
    Answers,
    AssessmentAnswered,
    ForgettingOrdered,
    Identity,
    PatientIdentityRecorded,
)
from services.intake.domain.retention import StillRetained


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


@dataclass(frozen=True)
class ForgettingOrder:
    """An operator's order to forget the patient, and why (free text, kept in intake)."""

    reason: str
    key_id: str
    override_retention: bool = False


def decide(recommendation: Recommendation, level: LevelOfCare, reason: str | None,
           clinician_id: str) -> Decision:
    """The clinician's decision: the recommended level, or another with a reason."""
    if level is recommendation.level:
        return accept(recommendation, clinician_id)
    if not reason:
        raise IntakeRuleBroken(
            f"the rules recommend {recommendation.level.value}; deciding {level.value} is an "
            "override and needs override_reason")
    return override(recommendation, level, reason, clinician_id)


class PatientCase(Aggregate):
    """One patient's intake, rebuilt from its events."""

    stream_prefix = "patient"

    def __init__(self, patient_id: str) -> None:
        super().__init__(patient_id)
        self.site_id = ""
        self.status: CaseStatus | None = None
        self.source = ReferralSource.SELF
        self.referral: Referral | None = None
        self.assessed: set[Instrument] = set()
        self.answers: dict[Instrument, Responses] = {}
        self.decided_level: LevelOfCare | None = None
        self.admission: Admission | None = None
        self.forgotten = False
        self.retention_overridden = False

    @property
    def patient_id(self) -> str:
        return self.id

    def refer(self, referral: Referral, identity: Identity) -> None:
        if self.status is not None:
            raise IntakeRuleBroken("this patient has already been referred")
        self.record(PatientReferred(
            patient_id=self.id, site_id=referral.site_id, referral_id=referral.referral_id,
            source=referral.source, referred_on=referral.referred_on,
        ))
        self.record(PatientIdentityRecorded(patient_id=self.id, site_id=self.site_id,
                                            identity=identity))

    def record_assessment(self, assessment_id: str, scored: Scored, on: date,
                          clinician_id: str | None = None) -> None:
        """An instrument of the initial assessment; risk found in it raises an alert."""
        self._require_undecided()
        result, responses = scored.result, scored.responses
        self.record(AssessmentRecorded(
            patient_id=self.id, site_id=self.site_id, assessment_id=assessment_id,
            instrument=result.instrument, total=result.total, band=result.band.value,
            item9=result.item9 if isinstance(result, Phq9Result) else None,
            positive=result.has(Flag.POSITIVE_SCREEN), assessed_on=on,
        ))
        self.record(AssessmentAnswered(
            patient_id=self.id, site_id=self.site_id, assessment_id=assessment_id,
            instrument=responses.instrument, answers=Answers(
                items=None if responses.items is None else list(responses.items),
                answers=None if responses.answers is None else dict(responses.answers),
                sex_at_birth=responses.sex_at_birth),
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

    def initial_assessment(self) -> Assessment:
        """The newest answers to each instrument, scored; AssessmentIncomplete if short."""
        latest = {instrument: score(responses) for instrument, responses in self.answers.items()}
        return initial_assessment(latest, self.source)

    def forget(self, order: ForgettingOrder, retained_until: date, today: date) -> None:
        """Forget the patient network-wide; inside the retention period only by override."""
        if self.forgotten:
            return
        if today < retained_until and not order.override_retention:
            raise StillRetained(retained_until)
        overridden = today < retained_until
        self.record(ForgettingOrdered(
            patient_id=self.id, site_id=self.site_id, reason=order.reason,
            key_id=order.key_id, retained_until=retained_until,
            retention_overridden=overridden))
        self.record(PatientForgotten(patient_id=self.id, site_id=self.site_id,
                                     retention_overridden=overridden))

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
                self.referral = Referral(event.referral_id, event.site_id, event.source,
                                         event.referred_on)
            case AssessmentRecorded():
                self.assessed.add(event.instrument)
            case AssessmentAnswered() if event.answers is not None:
                self.answers[event.instrument] = Responses(
                    event.instrument, event.answers.items, event.answers.answers,
                    event.answers.sex_at_birth)
            case PatientAdmitted():
                self.status = CaseStatus.ADMITTED
                self.decided_level = LevelOfCare.IOP
                self.admission = Admission(event.program_id, event.start_date,
                                           event.days_per_week, event.planned_weeks,
                                           event.clinician_id)
            case AdmissionDeclined():
                self.status = CaseStatus.DECLINED
                self.decided_level = event.recommended_level
            case PatientTransferred():
                self.site_id = event.site_id
            case PatientForgotten():
                self.forgotten = True
                self.retention_overridden = event.retention_overridden
