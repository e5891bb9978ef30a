"""Risk is never erased by a later screen; decisions wait for a safety plan and an evaluation."""

from datetime import date, timedelta
from typing import Any

import pytest

from iopnet.catalog import (
    AdmissionDeclined,
    AssessmentEnteredInError,
    LevelOfCare,
    PatientAdmitted,
    ReferralSource,
    RiskLevel,
    RiskReviewed,
    SafetyPlanRecorded,
    SafetyPlanReviewed,
    parse_event,
)
from iopnet.envelope import EventEnvelope
from iopnet.fields import InvalidField
from services.intake.domain import (
    Admission,
    AssessmentIncomplete,
    ClinicianNote,
    Identity,
    IntakeRuleBroken,
    PatientCase,
    Referral,
    Responses,
    SafetyPlan,
    Scored,
    accept,
    override,
    recommend,
    score,
)
from services.intake.domain.instruments import Instrument, InvalidResponses
from services.intake.domain.level_of_care import ReasonCode, missing_before_deciding
from services.intake.domain.private_events import (
    CorrectionNoted,
    RiskReviewNoted,
    SafetyPlanWritten,
)
from services.intake.domain.risk import RiskRecord, Screen, inside_window, older_than_window
from services.intake.domain.safety_plan import CRISIS_LINE, InvalidSafetyPlan

pytestmark = pytest.mark.unit

TODAY = date(2026, 11, 25)
NO = dict(wish_to_be_dead=False, suicidal_thoughts=False, method=False, intent=False,
          plan=False, behavior=False)
WITH_PLAN = {**NO, "wish_to_be_dead": True, "suicidal_thoughts": True, "plan": True}
WITH_METHOD = {**NO, "suicidal_thoughts": True, "method": True}
PHQ9_16 = [2] * 8 + [0]
PHQ9_12_ITEM9 = [2, 2, 2, 2, 1, 1, 1, 0, 1]
PLAN = SafetyPlan(warning_signs=["not sleeping"], coping_strategies=["walk the dog"],
                  distractions=["the café on Main St"], people_to_ask_for_help=["sister"],
                  professionals_and_agencies=["Dr. Rao, clinic"],
                  making_the_environment_safe=["medicines locked away by partner"])
ADMISSION = Admission("iop-adult", TODAY, 4, 10, "c-7")
NOTE = ClinicianNote("c-7", "reviewed with the patient and her sister")


def responses_of(instrument: str, given: Any) -> Responses:
    if instrument == "cssrs":
        return Responses(Instrument.CSSRS, answers=given)
    return Responses(Instrument.PHQ9, items=given)


def case_with(*screens: tuple[str, Any], on: date = TODAY) -> PatientCase:
    case = PatientCase("p-1")
    case.refer(Referral("r-1", "site-a", ReferralSource.PROVIDER, on - timedelta(days=1)),
               _identity())
    for n, (instrument, given) in enumerate(screens):
        case.record_assessment(f"a-{n}", Scored.of(responses_of(instrument, given)), on, on)
    return PatientCase.rebuild("p-1", case.pending)


def _identity() -> Identity:
    return Identity(given_name="Ada", family_name="Example", birth_date=date(1990, 4, 2))


# --- A later benign screen does not erase risk ------------------------------------------------


def test_a_later_all_no_cssrs_the_same_day_leaves_the_plan_in_force() -> None:
    case = case_with(("cssrs", WITH_PLAN), ("cssrs", NO), ("phq9", PHQ9_16))
    recommendation = recommend(case.initial_assessment(TODAY))
    assert recommendation.level is LevelOfCare.INPATIENT
    assert recommendation.urgent_alert and recommendation.safety_plan_required
    assert recommendation.reason_codes[0] is ReasonCode.HIGH_SUICIDE_RISK


def test_a_later_phq9_without_item9_leaves_item9_in_force_for_two_weeks() -> None:
    case = case_with(("phq9", PHQ9_12_ITEM9), ("phq9", [1] * 8 + [0]), ("cssrs", NO))
    assessment = case.initial_assessment(TODAY)
    assert assessment.phq9.total == 8 and assessment.self_harm_item9 == 1
    assert recommend(assessment).level is LevelOfCare.IOP
    later = case.initial_assessment(TODAY + timedelta(days=14))
    assert later.self_harm_item9 == 1
    with pytest.raises(AssessmentIncomplete, match="phq9"):  # the PHQ-9s left their window
        case.initial_assessment(TODAY + timedelta(days=15))


@pytest.mark.parametrize(("age", "risk"), [
    (30, RiskLevel.HIGH), (31, RiskLevel.NONE),
])
def test_cssrs_ideation_stays_in_force_for_a_month(age: int, risk: RiskLevel) -> None:
    record = _record(("cssrs", WITH_PLAN, TODAY - timedelta(days=age)))
    assert record.cssrs_in_force(TODAY).risk.value == risk.value


@pytest.mark.parametrize(("age", "risk"), [
    (91, RiskLevel.HIGH), (92, RiskLevel.NONE),
])
def test_cssrs_recent_behaviour_stays_in_force_for_three_months(age: int, risk: RiskLevel
                                                                ) -> None:
    behaviour = {**NO, "behavior": True, "behavior_within_3_months": True}
    record = _record(("cssrs", behaviour, TODAY - timedelta(days=age)))
    assert record.cssrs_in_force(TODAY).risk.value == risk.value


@pytest.mark.parametrize(("instrument", "days", "inside"), [
    (Instrument.PHQ9, 14, True), (Instrument.PHQ9, 15, False),
    (Instrument.CSSRS, 30, True), (Instrument.CSSRS, 31, False),
])
def test_a_decision_rests_only_on_screens_inside_their_window(instrument: Instrument,
                                                              days: int, inside: bool) -> None:
    given: Any = NO if instrument is Instrument.CSSRS else PHQ9_16
    screen = _record((instrument.value, given, TODAY - timedelta(days=days))).screens[0]
    assert inside_window(screen, TODAY) is inside
    # An instrument may be recorded exactly as long as it may inform a decision.
    assert older_than_window(instrument, TODAY - timedelta(days=days), TODAY) is not inside


def _record(*screens: tuple[str, Any, date]) -> RiskRecord:
    built = [Screen(f"a-{n}", score(responses_of(instrument, given)), on, n)
             for n, (instrument, given, on) in enumerate(screens)]
    return RiskRecord.of(built, set())


# --- Only a correction or a clinician's review clears a finding ---------------------------------


def test_entered_in_error_clears_the_finding_with_the_clinician_and_reason() -> None:
    case = case_with(("cssrs", WITH_PLAN), ("cssrs", NO), ("phq9", PHQ9_16))
    case.correct_in_error("a-0", NOTE, TODAY)
    corrected, noted = case.pending
    assert isinstance(corrected, AssessmentEnteredInError) and corrected.clinician_id == "c-7"
    assert isinstance(noted, CorrectionNoted) and "reason" in noted.sealed_fields
    assert recommend(case.initial_assessment(TODAY)).level is LevelOfCare.IOP
    with pytest.raises(IntakeRuleBroken):
        case.correct_in_error("a-0", NOTE, TODAY)
    with pytest.raises(InvalidField):
        case.correct_in_error("a-99", NOTE, TODAY)


@pytest.mark.parametrize(("cleared", "level"), [
    (True, LevelOfCare.IOP), (False, LevelOfCare.INPATIENT),
])
def test_a_risk_review_clears_only_when_the_clinician_says_so(cleared: bool,
                                                             level: LevelOfCare) -> None:
    case = case_with(("cssrs", WITH_PLAN), ("phq9", PHQ9_16))
    case.review_risk("rv-1", NOTE, cleared, TODAY)
    reviewed, noted = case.pending
    assert isinstance(reviewed, RiskReviewed) and reviewed.findings_cleared is cleared
    assert isinstance(noted, RiskReviewNoted) and noted.reason == NOTE.reason
    assert recommend(case.initial_assessment(TODAY)).level is level


def test_a_finding_after_the_review_is_in_force_again() -> None:
    case = case_with(("cssrs", WITH_PLAN), ("phq9", PHQ9_16))
    case.review_risk("rv-1", NOTE, True, TODAY)
    case.record_assessment("a-9", Scored.of(Responses(Instrument.CSSRS, answers=WITH_PLAN)),
                           TODAY, TODAY)
    assert recommend(case.initial_assessment(TODAY)).level is LevelOfCare.INPATIENT


def test_a_correction_or_review_needs_a_reason() -> None:
    with pytest.raises(InvalidField, match="reason"):
        ClinicianNote("c-7", "   ")


# --- Under-triage: no lower level before a safety plan and an evaluation ------------------------


def test_risk_of_harm_cannot_go_to_outpatient_before_plan_and_evaluation() -> None:
    case = case_with(("phq9", PHQ9_12_ITEM9), ("cssrs", NO))
    recommendation = recommend(case.initial_assessment(TODAY))
    assert recommendation.level is LevelOfCare.IOP
    lower = override(recommendation, LevelOfCare.STANDARD_OUTPATIENT, "stable, engaged", "c-7")
    with pytest.raises(IntakeRuleBroken, match="safety plan and a same-day risk evaluation"):
        case.decline(lower)
    case.write_safety_plan("sp-1", PLAN, "c-7", TODAY)
    with pytest.raises(IntakeRuleBroken, match="same-day risk evaluation"):
        case.decline(lower)
    case.review_risk("rv-1", NOTE, False, TODAY)
    case.decline(lower)
    declined = next(e for e in case.pending if isinstance(e, AdmissionDeclined))
    assert (declined.recommended_level, declined.rules_level, declined.overridden,
            declined.decided_by) == (LevelOfCare.STANDARD_OUTPATIENT, LevelOfCare.IOP, True,
                                     "c-7")


def test_cssrs_moderate_with_mild_depression_is_iop_not_outpatient() -> None:
    case = case_with(("phq9", [1] * 8 + [0]), ("cssrs", WITH_METHOD))
    recommendation = recommend(case.initial_assessment(TODAY))
    assert recommendation.level is LevelOfCare.IOP
    assert recommendation.reason_codes[0] is ReasonCode.RISK_OF_HARM


def test_admission_with_any_finding_needs_a_safety_plan_and_carries_its_id() -> None:
    case = case_with(("phq9", PHQ9_12_ITEM9), ("cssrs", NO))
    assessment = case.initial_assessment(TODAY)
    decision = accept(recommend(assessment), "c-9")
    with pytest.raises(IntakeRuleBroken, match="safety plan"):
        case.admit(ADMISSION, assessment, decision)
    case.write_safety_plan("sp-1", PLAN, "c-7", TODAY)
    case.admit(ADMISSION, assessment, decision)
    admitted = case.pending[-1]
    assert isinstance(admitted, PatientAdmitted)
    assert (admitted.safety_plan_id, admitted.decided_by) == ("sp-1", "c-9")


@pytest.mark.parametrize("level", [LevelOfCare.INPATIENT, LevelOfCare.PARTIAL_HOSPITALIZATION])
def test_a_referral_to_a_higher_level_never_waits(level: LevelOfCare) -> None:
    recommendation = recommend(case_with(("cssrs", WITH_PLAN), ("phq9", PHQ9_16))
                               .initial_assessment(TODAY))
    assert missing_before_deciding(level, recommendation, safety_plan=False,
                                   evaluated=False) == []


# --- Implausible dates ------------------------------------------------------------------------


@pytest.mark.parametrize("on", [TODAY + timedelta(days=1), date(2019, 3, 1)])
def test_an_assessment_in_the_future_or_older_than_its_window_is_refused(on: date) -> None:
    case = case_with()
    with pytest.raises(InvalidField) as refused:
        case.record_assessment("a-1", Scored.of(Responses(Instrument.PHQ9, items=PHQ9_16)),
                               on, TODAY)
    assert refused.value.pointer == "#/assessed_on"


def test_a_start_before_the_referral_is_refused() -> None:
    case = case_with(("phq9", PHQ9_16), ("cssrs", NO))
    assessment = case.initial_assessment(TODAY)
    early = Admission("iop-adult", TODAY - timedelta(days=2), 4, 10, "c-7")
    with pytest.raises(InvalidField) as refused:
        case.admit(early, assessment, accept(recommend(assessment), "c-7"))
    assert refused.value.pointer == "#/start_date"


# --- Error pointers ---------------------------------------------------------------------------


@pytest.mark.parametrize(("responses", "pointer"), [
    (Responses(Instrument.CSSRS, answers={**NO, "intent": "yes"}), "#/answers/intent"),
    (Responses(Instrument.CSSRS, answers={**NO, "behavior": True}),
     "#/answers/behavior_within_3_months"),
    (responses_of("cssrs", []), "#/answers"),
    (Responses(Instrument.AUDITC, items=[1, 1, 1], sex_at_birth="m"), "#/sex_at_birth"),
])
def test_invalid_answers_point_at_the_field_in_the_request(responses: Responses,
                                                           pointer: str) -> None:
    with pytest.raises(InvalidResponses) as invalid:
        score(responses)
    assert invalid.value.pointer == pointer


# --- The safety plan --------------------------------------------------------------------------


def test_a_safety_plan_missing_a_step_is_refused_naming_it() -> None:
    case = case_with()
    with pytest.raises(InvalidSafetyPlan) as refused:
        case.write_safety_plan("sp-1", PLAN.model_copy(update={
            "making_the_environment_safe": []}), "c-7", TODAY)
    assert refused.value.pointer == "#/plan/making_the_environment_safe"


def test_the_988_lifeline_is_always_in_the_plan_and_a_second_plan_is_a_review() -> None:
    case = case_with()
    case.write_safety_plan("sp-1", PLAN, "c-7", TODAY)
    case.write_safety_plan("sp-2", PLAN, "c-8", TODAY + timedelta(days=7))
    recorded, written, reviewed, _ = case.pending
    assert isinstance(recorded, SafetyPlanRecorded) and recorded.safety_plan_id == "sp-1"
    assert isinstance(reviewed, SafetyPlanReviewed) and reviewed.safety_plan_id == "sp-1"
    assert isinstance(written, SafetyPlanWritten) and written.plan is not None
    assert "plan" in written.sealed_fields and not written.published
    assert written.plan.professionals_and_agencies[-1] == CRISIS_LINE


# --- The decision events, v1 read as v2 -------------------------------------------------------


def _v1(event_type: str, data: dict[str, object]) -> EventEnvelope:
    return EventEnvelope(source="/iopnet/intake", type=event_type, subject="p-1", siteid="s-1",
                         streamid="patient-p-1", streamversion=3, correlationid="c",
                         causationid="c", schemaversion=1, data=data)


def test_a_v1_admission_was_decided_by_its_clinician() -> None:
    v1 = {"patient_id": "p-1", "site_id": "s-1", "program_id": "iop-adult",
          "start_date": "2026-12-01", "days_per_week": 4, "planned_weeks": 10,
          "clinician_id": "c-7", "baseline_phq9": 16}
    admitted = parse_event(_v1(PatientAdmitted.event_type, v1))
    assert isinstance(admitted, PatientAdmitted)
    assert (admitted.decided_by, admitted.safety_plan_id) == ("c-7", None)


def test_a_v1_decline_reads_with_who_and_whether_unknown() -> None:
    v1 = {"patient_id": "p-1", "site_id": "s-1", "recommended_level": "inpatient",
          "reason_codes": ["high_suicide_risk"], "urgent": True}
    declined = parse_event(_v1(AdmissionDeclined.event_type, v1))
    assert isinstance(declined, AdmissionDeclined)
    assert (declined.decided_by, declined.overridden, declined.rules_level) == (None, None, None)
