"""A patient's case from referral to the level-of-care decision: the intake aggregate."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from iopnet.aggregate import Aggregate
from iopnet.catalog import (
    AdmissionDeclined,
    AssessmentEnteredInError,
    AssessmentRecorded,
    DomainEvent,
    Instrument,
    LevelOfCare,
    PatientAdmitted,
    PatientCertified,
    PatientForgotten,
    PatientReferred,
    PatientTransferred,
    ReferralSource,
    RiskLevel,
    RiskReviewed,
    RiskSignalRaised,
    SafetyPlanRecorded,
    SafetyPlanReviewed,
)
from iopnet.fields import InvalidField
from services.intake.domain.assessment import (
    REQUIRED_FOR_DECISION,
    Responses,
    Scored,
    decision_assessment,
    risk_signals,
    score,
)
from services.intake.domain.certification import Certification
from services.intake.domain.instruments import Flag, Phq9Result
from services.intake.domain.level_of_care import (
    Assessment,
    Decision,
    Recommendation,
    accept,
    missing_before_deciding,
    override,
)
from services.intake.domain.minors import require_guardian, require_program_fits
from services.intake.domain.private_events import (
    Answers,
    AssessmentAnswered,
    CorrectionNoted,
    ForgettingOrdered,
    Identity,
    OverrideReasoned,
    PatientIdentityRecorded,
    RiskReviewNoted,
    SafetyPlanWritten,
)
from services.intake.domain.retention import StillRetained
from services.intake.domain.risk import Review, RiskRecord, Screen, older_than_window
from services.intake.domain.safety_plan import InvalidSafetyPlan, SafetyPlan, complete


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
class DecisionRecord:
    """Who decided the level of care, and whether (and why) against the rules."""

    decided_by: str | None
    overridden: bool | None
    rules_level: LevelOfCare | None
    override_reason: str | None = None


@dataclass(frozen=True)
class ClinicianNote:
    """A clinician's documented act (a correction, a risk review): who, and why."""

    clinician_id: str
    reason: str

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise InvalidField("reason", "the clinician's reason is required")


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
        self.recorded: dict[str, AssessmentRecorded] = {}
        self.screens: list[Screen] = []
        self.in_error: set[str] = set()
        self.reviews: list[Review] = []
        self.safety_plan_id: str | None = None
        self.safety_plan: SafetyPlan | None = None
        self.decision: DecisionRecord | None = None
        self.birth_date: date | None = None
        self.age_at_referral: int | None = None
        self.certification: Certification | None = None
        self._order = 0
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
        age = require_guardian(identity.birth_date, referral.referred_on,
                               identity.guardian is not None)
        self.record(PatientReferred(
            patient_id=self.id, site_id=referral.site_id, referral_id=referral.referral_id,
            source=referral.source, referred_on=referral.referred_on, age_at_referral=age,
        ))
        self.record(PatientIdentityRecorded(patient_id=self.id, site_id=self.site_id,
                                            identity=identity))

    def record_assessment(self, assessment_id: str, scored: Scored, on: date, today: date,
                          clinician_id: str | None = None) -> None:
        """An instrument of the initial assessment; risk found in it raises an alert.

        ``assessed_on`` may not be after the site's today, nor so old that the instrument
        no longer describes the patient (its window, ``risk.WINDOWS``).
        """
        self._require_undecided()
        if on > today:
            raise InvalidField("assessed_on", f"{on} is after today ({today}) at the site")
        if older_than_window(scored.result.instrument, on, today):
            raise InvalidField("assessed_on", f"{on} is older than the window of "
                               f"{scored.result.instrument.value}: it cannot inform a decision")
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

    def correct_in_error(self, assessment_id: str, note: ClinicianNote, today: date) -> None:
        """The assessment was entered in error: it stops counting, its findings included."""
        if assessment_id not in self.recorded:
            raise InvalidField("#/assessment_id", "no such assessment of this patient")
        if assessment_id in self.in_error:
            raise IntakeRuleBroken("the assessment is already corrected as entered in error")
        self.record(AssessmentEnteredInError(
            patient_id=self.id, site_id=self.site_id, assessment_id=assessment_id,
            clinician_id=note.clinician_id, corrected_on=today))
        self.record(CorrectionNoted(patient_id=self.id, site_id=self.site_id,
                                    assessment_id=assessment_id, reason=note.reason))

    def review_risk(self, review_id: str, note: ClinicianNote, findings_cleared: bool,
                    today: date) -> None:
        """A clinician's documented risk review: the same-day evaluation, and the only way,
        besides an error correction, that findings recorded before it stop being in force."""
        self.record(RiskReviewed(
            patient_id=self.id, site_id=self.site_id, review_id=review_id,
            clinician_id=note.clinician_id, reviewed_on=today,
            findings_cleared=findings_cleared))
        self.record(RiskReviewNoted(patient_id=self.id, site_id=self.site_id,
                                    review_id=review_id, reason=note.reason))

    def write_safety_plan(self, safety_plan_id: str, plan: SafetyPlan, clinician_id: str,
                          today: date) -> None:
        """The first safety plan, or a review of the one in force (rewritten as given)."""
        try:
            plan = complete(plan)
        except InvalidSafetyPlan as missing:
            raise InvalidSafetyPlan(f"plan.{missing.field}", missing.message) from None
        if self.safety_plan_id is None:
            self.record(SafetyPlanRecorded(
                patient_id=self.id, site_id=self.site_id, safety_plan_id=safety_plan_id,
                clinician_id=clinician_id, recorded_on=today))
        else:
            safety_plan_id = self.safety_plan_id
            self.record(SafetyPlanReviewed(
                patient_id=self.id, site_id=self.site_id, safety_plan_id=safety_plan_id,
                clinician_id=clinician_id, reviewed_on=today))
        self.record(SafetyPlanWritten(patient_id=self.id, site_id=self.site_id,
                                      safety_plan_id=safety_plan_id, plan=plan))

    @property
    def risk_record(self) -> RiskRecord:
        return RiskRecord.of(self.screens, self.in_error, self.reviews)

    def admit(self, admission: Admission, assessment: Assessment, decision: Decision) -> None:
        self._require_decidable()
        if decision.decided is not LevelOfCare.IOP:
            raise IntakeRuleBroken(
                f"the decided level of care is {decision.decided.value}, not IOP: "
                "decline the admission, or override the recommendation with a reason")
        assert self.referral is not None
        if admission.start_date < self.referral.referred_on:
            raise InvalidField("start_date", f"{admission.start_date} is before the referral "
                               f"({self.referral.referred_on})")
        if self.birth_date is not None:
            require_program_fits(admission.program_id, self.birth_date, admission.start_date)
        self._require_prerequisites(decision)
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
            decided_by=decision.clinician_id,
            safety_plan_id=self.safety_plan_id if assessment.risk_found else None,
        ))
        self._record_override_reason(decision)

    def certify(self, certification_id: str, certification: Certification) -> None:
        """A physician certifies (or recertifies) the need for IOP of an admitted patient."""
        if self.status is not CaseStatus.ADMITTED:
            raise IntakeRuleBroken("only an admitted patient's need for IOP is certified")
        self.record(PatientCertified(
            patient_id=self.id, site_id=self.site_id, certification_id=certification_id,
            certified_by=certification.certified_by, certified_on=certification.certified_on,
            diagnosis_codes=list(certification.diagnosis_codes),
            recertify_by=certification.recertify_by))

    def decline(self, decision: Decision) -> None:
        self._require_decidable()
        if decision.decided is LevelOfCare.IOP:
            raise IntakeRuleBroken("IOP was decided: admit the patient instead")
        self._require_prerequisites(decision)
        self.record(AdmissionDeclined(
            patient_id=self.id, site_id=self.site_id, recommended_level=decision.decided,
            reason_codes=[code.value for code in decision.recommendation.reason_codes],
            urgent=decision.recommendation.urgent_alert, decided_by=decision.clinician_id,
            overridden=decision.overridden, rules_level=decision.recommended,
        ))
        self._record_override_reason(decision)

    def _require_prerequisites(self, decision: Decision) -> None:
        missing = missing_before_deciding(
            decision.decided, decision.recommendation, safety_plan=self.safety_plan_id is not None,
            evaluated=self.risk_record.evaluated_since_last_finding())
        if missing:
            raise IntakeRuleBroken(
                f"risk was found: record {' and '.join(missing)} before deciding "
                f"{decision.decided.value}")

    def _record_override_reason(self, decision: Decision) -> None:
        if decision.overridden:
            self.record(OverrideReasoned(
                patient_id=self.id, site_id=self.site_id, decided_by=decision.clinician_id,
                decided_level=decision.decided, reason=decision.override_reason))

    def transfer(self, to_site_id: str) -> None:
        if to_site_id == self.site_id:
            raise IntakeRuleBroken("the patient is already at that site")
        self.record(PatientTransferred(
            patient_id=self.id, site_id=to_site_id, from_site_id=self.site_id,
        ))

    def initial_assessment(self, today: date) -> Assessment:
        """What a decision today rests on: the newest answers inside each instrument's window
        and every risk finding still in force; AssessmentIncomplete if short."""
        return decision_assessment(self.risk_record, self.source, today)

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

    def _next(self) -> int:
        self._order += 1
        return self._order

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
                self.age_at_referral = event.age_at_referral
            case AssessmentRecorded():
                self.assessed.add(event.instrument)
                self.recorded[event.assessment_id] = event
            case AssessmentAnswered() if event.answers is not None:
                responses = Responses(event.instrument, event.answers.items,
                                      event.answers.answers, event.answers.sex_at_birth)
                recorded = self.recorded[event.assessment_id]
                self.screens.append(Screen(event.assessment_id, score(responses),
                                           recorded.assessed_on, self._next()))
            case AssessmentEnteredInError():
                self.in_error.add(event.assessment_id)
            case RiskReviewed():
                self.reviews.append(Review(event.review_id, event.clinician_id,
                                           event.reviewed_on, event.findings_cleared,
                                           self._next()))
            case PatientIdentityRecorded() if event.identity is not None:
                self.birth_date = event.identity.birth_date
            case PatientCertified():
                self.certification = Certification(event.certified_by, event.certified_on,
                                                   tuple(event.diagnosis_codes))
            case SafetyPlanRecorded():
                self.safety_plan_id = event.safety_plan_id
            case SafetyPlanWritten():
                self.safety_plan = event.plan
            case OverrideReasoned() if self.decision is not None:
                self.decision = replace(self.decision, override_reason=event.reason)
            case PatientAdmitted():
                self.status = CaseStatus.ADMITTED
                self.decided_level = LevelOfCare.IOP
                self.admission = Admission(event.program_id, event.start_date,
                                           event.days_per_week, event.planned_weeks,
                                           event.clinician_id)
                self.decision = DecisionRecord(event.decided_by, event.overridden,
                                               event.recommended_level)
            case AdmissionDeclined():
                self.status = CaseStatus.DECLINED
                self.decided_level = event.recommended_level
                self.decision = DecisionRecord(event.decided_by, event.overridden,
                                               event.rules_level)
            case PatientTransferred():
                self.site_id = event.site_id
            case PatientForgotten():
                self.forgotten = True
                self.retention_overridden = event.retention_overridden
