from datetime import date

import pytest

from iopnet.catalog import (
    AdmissionDeclined,
    AssessmentRecorded,
    LevelOfCare,
    PatientAdmitted,
    PatientCertified,
    PatientForgotten,
    PatientReferred,
    ReferralSource,
    RiskLevel,
    RiskSignal,
    RiskSignalRaised,
)
from services.intake.domain import (
    Admission,
    AssessmentIncomplete,
    CaseStatus,
    ForgettingOrder,
    Identity,
    IntakeRuleBroken,
    PatientCase,
    Referral,
    Responses,
    Scored,
    StillRetained,
    accept,
    initial_assessment,
    override,
    recommend,
    retained_until,
    score,
)
from services.intake.domain.certification import certification
from services.intake.domain.instruments import Instrument, InvalidResponses
from services.intake.domain.private_events import (
    AssessmentAnswered,
    ForgettingOrdered,
    OverrideReasoned,
    PatientIdentityRecorded,
)

pytestmark = pytest.mark.unit

REFERRAL = Referral("r-1", "site-a", ReferralSource.PROVIDER, date(2026, 11, 20))
ADMISSION = Admission("iop-adult", date(2026, 12, 1), 4, 10, "c-7")
TODAY = date(2026, 11, 25)
ADA = Identity(given_name="Ada", family_name="Example", birth_date=date(1990, 4, 2))
NO_RISK = dict(wish_to_be_dead=False, suicidal_thoughts=False, method=False, intent=False,
               plan=False, behavior=False)
HIGH_RISK = {**NO_RISK, "suicidal_thoughts": True, "plan": True}


def assessed_case(phq9: list[int], cssrs: dict[str, bool] = NO_RISK,
                  source: ReferralSource = ReferralSource.PROVIDER) -> tuple[PatientCase, dict]:
    case = PatientCase("p-1")
    case.refer(Referral("r-1", "site-a", source, TODAY), ADA)
    scored = {
        Instrument.PHQ9: Scored.of(Responses(Instrument.PHQ9, items=phq9)),
        Instrument.CSSRS: Scored.of(Responses(Instrument.CSSRS, answers=cssrs)),
    }
    for n, answered in enumerate(scored.values()):
        case.record_assessment(f"a-{n}", answered, TODAY, TODAY)
    return case, {instrument: answered.result for instrument, answered in scored.items()}


def test_referral_records_patient_referred() -> None:
    case = PatientCase("p-1")
    case.refer(REFERRAL, ADA)
    assert case.status is CaseStatus.REFERRED
    assert isinstance(case.pending[0], PatientReferred)


def test_assessments_are_recorded_with_their_scores() -> None:
    case, _ = assessed_case([2] * 9)
    recorded = [e for e in case.pending if isinstance(e, AssessmentRecorded)]
    assert [(e.instrument, e.total, e.item9) for e in recorded] == [
        (Instrument.PHQ9, 18, 2), (Instrument.CSSRS, 0, None)]


def test_item_9_above_zero_raises_a_same_day_risk_signal() -> None:
    case, _ = assessed_case([2] * 9)
    signals = [e.signal for e in case.pending if isinstance(e, RiskSignalRaised)]
    assert signals == [RiskSignal.PHQ9_ITEM9]


def test_high_cssrs_raises_an_urgent_signal_and_the_rules_decline_iop() -> None:
    case, results = assessed_case([3] * 8 + [0], cssrs=HIGH_RISK)
    assert RiskSignal.CSSRS_HIGH in [e.signal for e in case.pending
                                     if isinstance(e, RiskSignalRaised)]
    recommendation = recommend(initial_assessment(results, ReferralSource.PROVIDER))
    assert recommendation.level is LevelOfCare.INPATIENT
    case.decline(accept(recommendation, "c-7"))
    declined = case.pending[-1]
    assert isinstance(declined, AdmissionDeclined)
    assert declined.recommended_level is LevelOfCare.INPATIENT and declined.urgent
    assert case.status is CaseStatus.DECLINED


def test_an_admitted_patient_is_certified_as_the_physician_signed() -> None:
    case, results = assessed_case([3, 3, 3, 3, 2, 2, 2, 2, 0])
    assessment = initial_assessment(results, ReferralSource.PROVIDER)
    case.admit(ADMISSION, assessment, accept(recommend(assessment), "c-7"))
    signed = certification("dr-a", TODAY, ["F33.1", "F32.0"], TODAY, TODAY)
    case.certify("cert-1", signed)
    certified = case.pending[-1]
    assert isinstance(certified, PatientCertified)
    assert (certified.patient_id, certified.site_id, certified.certification_id,
            certified.certified_by, certified.certified_on, certified.diagnosis_codes,
            certified.recertify_by) == ("p-1", "site-a", "cert-1", "dr-a", TODAY,
                                        ["F33.1", "F32.0"], signed.recertify_by)
    assert case.certification == signed


def test_admission_carries_the_baseline_from_the_assessment() -> None:
    case, results = assessed_case([3, 3, 3, 3, 2, 2, 2, 2, 0])
    assessment = initial_assessment(results, ReferralSource.PROVIDER)
    case.admit(ADMISSION, assessment, accept(recommend(assessment), "c-7"))
    admitted = case.pending[-1]
    assert isinstance(admitted, PatientAdmitted)
    assert (admitted.baseline_phq9, admitted.risk_level, admitted.overridden) == (
        20, RiskLevel.NONE, False)
    assert case.status is CaseStatus.ADMITTED


def test_admitting_against_the_rules_needs_an_override() -> None:
    case, results = assessed_case([1] * 8 + [0])  # PHQ-9 8, mild: standard outpatient
    assessment = initial_assessment(results, ReferralSource.PROVIDER)
    recommendation = recommend(assessment)
    with pytest.raises(IntakeRuleBroken):
        case.admit(ADMISSION, assessment, accept(recommendation, "c-7"))
    case.admit(ADMISSION, assessment,
               override(recommendation, LevelOfCare.IOP, "recent loss, no support", "c-7"))
    admitted, reasoned = case.pending[-2:]
    assert isinstance(admitted, PatientAdmitted) and admitted.overridden
    assert admitted.recommended_level is LevelOfCare.STANDARD_OUTPATIENT
    assert admitted.decided_by == "c-7"
    assert isinstance(reasoned, OverrideReasoned) and not reasoned.published
    assert (reasoned.reason, reasoned.decided_by) == ("recent loss, no support", "c-7")
    assert "reason" in reasoned.sealed_fields
    rebuilt = PatientCase.rebuild("p-1", case.pending)
    assert rebuilt.decision is not None
    assert (rebuilt.decision.overridden, rebuilt.decision.override_reason) == (
        True, "recent loss, no support")


def test_no_decision_before_phq9_and_cssrs() -> None:
    case = PatientCase("p-1")
    case.refer(REFERRAL, ADA)
    with pytest.raises(IntakeRuleBroken, match="phq9 and cssrs"):
        case.decline(accept(recommend(initial_assessment(
            assessed_case([0] * 9)[1], ReferralSource.SELF)), "c-7"))


def test_a_case_rebuilt_from_history_is_at_its_version() -> None:
    case, results = assessed_case([2] * 8 + [0])
    assessment = initial_assessment(results, ReferralSource.PROVIDER)
    case.admit(ADMISSION, assessment, accept(recommend(assessment), "c-7"))
    rebuilt = PatientCase.rebuild("p-1", case.pending)
    assert rebuilt.version == len(case.pending)
    assert rebuilt.status is CaseStatus.ADMITTED and rebuilt.pending == []


def test_cannot_assess_or_decide_after_the_decision() -> None:
    case, results = assessed_case([2] * 8 + [0])
    assessment = initial_assessment(results, ReferralSource.PROVIDER)
    case.admit(ADMISSION, assessment, accept(recommend(assessment), "c-7"))
    with pytest.raises(IntakeRuleBroken):
        case.admit(ADMISSION, assessment, accept(recommend(assessment), "c-7"))
    with pytest.raises(IntakeRuleBroken):
        case.record_assessment("a-9", Scored.of(Responses(Instrument.PHQ9, items=[0] * 9)),
                               TODAY, TODAY)


def test_cannot_refer_twice() -> None:
    case = PatientCase("p-1")
    case.refer(REFERRAL, ADA)
    with pytest.raises(IntakeRuleBroken):
        case.refer(REFERRAL, ADA)


@pytest.mark.parametrize(("responses", "field"), [
    (Responses(Instrument.PHQ9, items=[1] * 8), "items"),
    (Responses(Instrument.PHQ9, items=[1] * 8 + [4]), "items[8]"),
    (Responses(Instrument.CSSRS), "answers"),
    (Responses(Instrument.AUDITC, items=[1, 1, 1]), "sex_at_birth"),
])
def test_invalid_responses_name_the_field(responses: Responses, field: str) -> None:
    with pytest.raises(InvalidResponses) as invalid:
        score(responses)
    assert invalid.value.field == field


def test_the_decision_comes_from_the_newest_answers_in_the_case_itself() -> None:
    case, _ = assessed_case([1] * 9)  # PHQ-9 9, mild
    case.record_assessment("a-9", Scored.of(Responses(Instrument.PHQ9, items=[2] * 8 + [0])),
                           TODAY, TODAY)
    rebuilt = PatientCase.rebuild("p-1", case.pending)
    assessment = rebuilt.initial_assessment(TODAY)
    assert assessment.phq9.total == 16 and assessment.referral_source is ReferralSource.PROVIDER
    assert recommend(assessment).level is LevelOfCare.IOP


def test_identity_and_answers_are_private_and_sealed() -> None:
    case, _ = assessed_case([1] * 9)
    private = [e for e in case.pending if not e.published]
    assert [type(e) for e in private] == [PatientIdentityRecorded, AssessmentAnswered,
                                          AssessmentAnswered]
    assert all(e.sealed_fields for e in private)
    answered = private[1]
    assert isinstance(answered, AssessmentAnswered) and answered.answers is not None
    assert answered.answers.items == [1] * 9


def test_forgotten_answers_leave_the_assessment_incomplete() -> None:
    case, _ = assessed_case([1] * 9)
    redacted = [e.model_copy(update={"answers": None}) if isinstance(e, AssessmentAnswered)
                else e for e in case.pending]
    with pytest.raises(AssessmentIncomplete):
        PatientCase.rebuild("p-1", redacted).initial_assessment(TODAY)


ORDER = ForgettingOrder("patient asked for erasure", "op-1")


def test_forgetting_inside_the_retention_period_needs_an_override() -> None:
    case, _ = assessed_case([1] * 9)
    until = retained_until(TODAY, 6)
    with pytest.raises(StillRetained, match=until.isoformat()):
        case.forget(ORDER, until, TODAY)
    case.forget(ForgettingOrder("court order", "op-1", override_retention=True), until, TODAY)
    ordered, forgotten = case.pending[-2:]
    assert isinstance(ordered, ForgettingOrdered) and not ordered.published
    assert (ordered.reason, ordered.key_id, ordered.retention_overridden) == (
        "court order", "op-1", True)
    assert isinstance(forgotten, PatientForgotten) and forgotten.published
    assert case.forgotten and case.retention_overridden


def test_forgetting_after_the_retention_period_and_again_changes_nothing_more() -> None:
    case, _ = assessed_case([1] * 9)
    later = retained_until(TODAY, 6)
    case.forget(ORDER, later, later)
    events = len(case.pending)
    case.forget(ORDER, later, later)
    assert len(case.pending) == events and not case.retention_overridden


def test_retention_counts_whole_years_and_a_leap_day_ends_on_28_february() -> None:
    assert retained_until(date(2026, 11, 25), 6) == date(2032, 11, 25)
    assert retained_until(date(2028, 2, 29), 6) == date(2034, 2, 28)
