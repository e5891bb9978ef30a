from datetime import date

import pytest

from iopnet.catalog import (
    AdmissionDeclined,
    AssessmentRecorded,
    LevelOfCare,
    PatientAdmitted,
    PatientReferred,
    ReferralSource,
    RiskLevel,
    RiskSignal,
    RiskSignalRaised,
)
from services.intake.domain import (
    Admission,
    CaseStatus,
    IntakeRuleBroken,
    PatientCase,
    Referral,
    Responses,
    accept,
    initial_assessment,
    override,
    recommend,
    score,
)
from services.intake.domain.instruments import Instrument, InvalidResponses

pytestmark = pytest.mark.unit

REFERRAL = Referral("r-1", "site-a", ReferralSource.PROVIDER, date(2026, 11, 20))
ADMISSION = Admission("iop-adult", date(2026, 12, 1), 4, 10, "c-7")
TODAY = date(2026, 11, 25)
NO_RISK = dict(wish_to_be_dead=False, suicidal_thoughts=False, method=False, intent=False,
               plan=False, behavior=False)
HIGH_RISK = {**NO_RISK, "suicidal_thoughts": True, "plan": True}


def assessed_case(phq9: list[int], cssrs: dict[str, bool] = NO_RISK,
                  source: ReferralSource = ReferralSource.PROVIDER) -> tuple[PatientCase, dict]:
    case = PatientCase("p-1")
    case.refer(Referral("r-1", "site-a", source, TODAY))
    results = {
        Instrument.PHQ9: score(Responses(Instrument.PHQ9, items=phq9)),
        Instrument.CSSRS: score(Responses(Instrument.CSSRS, answers=cssrs)),
    }
    for n, result in enumerate(results.values()):
        case.record_assessment(f"a-{n}", result, TODAY)
    return case, results


def test_referral_records_patient_referred() -> None:
    case = PatientCase("p-1")
    case.refer(REFERRAL)
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
    case, results = assessed_case([1] * 9)  # PHQ-9 9, mild: standard outpatient
    assessment = initial_assessment(results, ReferralSource.PROVIDER)
    recommendation = recommend(assessment)
    with pytest.raises(IntakeRuleBroken):
        case.admit(ADMISSION, assessment, accept(recommendation, "c-7"))
    case.admit(ADMISSION, assessment,
               override(recommendation, LevelOfCare.IOP, "recent loss, no support", "c-7"))
    admitted = case.pending[-1]
    assert isinstance(admitted, PatientAdmitted) and admitted.overridden
    assert admitted.recommended_level is LevelOfCare.STANDARD_OUTPATIENT


def test_no_decision_before_phq9_and_cssrs() -> None:
    case = PatientCase("p-1")
    case.refer(REFERRAL)
    with pytest.raises(IntakeRuleBroken, match="phq9 and cssrs"):
        case.decline(accept(recommend(initial_assessment(
            assessed_case([0] * 9)[1], ReferralSource.SELF)), "c-7"))


def test_a_case_rebuilt_from_history_is_at_its_version() -> None:
    case, results = assessed_case([2] * 9)
    assessment = initial_assessment(results, ReferralSource.PROVIDER)
    case.admit(ADMISSION, assessment, accept(recommend(assessment), "c-7"))
    rebuilt = PatientCase.rebuild("p-1", case.pending)
    assert rebuilt.version == len(case.pending)
    assert rebuilt.status is CaseStatus.ADMITTED and rebuilt.pending == []


def test_cannot_assess_or_decide_after_the_decision() -> None:
    case, results = assessed_case([2] * 9)
    assessment = initial_assessment(results, ReferralSource.PROVIDER)
    case.admit(ADMISSION, assessment, accept(recommend(assessment), "c-7"))
    with pytest.raises(IntakeRuleBroken):
        case.admit(ADMISSION, assessment, accept(recommend(assessment), "c-7"))
    with pytest.raises(IntakeRuleBroken):
        case.record_assessment("a-9", results[Instrument.PHQ9], TODAY)


def test_cannot_refer_twice() -> None:
    case = PatientCase("p-1")
    case.refer(REFERRAL)
    with pytest.raises(IntakeRuleBroken):
        case.refer(REFERRAL)


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
