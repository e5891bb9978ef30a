"""The safety plan before less care (Stanley & Brown 2012; VA/DoD 2019): required once risk
was ever found, written or reviewed on or after the latest finding, before a step-down or a
completed discharge; a step-up, leaving against advice or a transfer never waits for it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from iopnet.catalog import (
    Discharged,
    DischargeOutcome,
    LevelOfCare,
    SteppedDown,
    SteppedUp,
)
from services.plans.domain import (
    AftercareItem,
    SafetyPlanCheck,
    SafetyPlanNeeded,
    SafetyPlanStatus,
    StepDownOrder,
    check_safety_plan,
)
from services.plans.domain.exit_summary import summarize_exit
from services.plans.domain.progress import ProgressRecord, SignalRecord
from services.plans.domain.step_down import (
    Criterion,
    CriterionCode,
    StepDownEvaluation,
    StepUpReasonCode,
)
from tests.fixtures.plans import PROGRAM_START, drafted_plan

pytestmark = pytest.mark.unit

START = PROGRAM_START
FINDING = START + timedelta(days=20)
TODAY = START + timedelta(days=50)
ELIGIBLE = StepDownEvaluation(True, tuple(Criterion(c, True, "") for c in CriterionCode))
ORDER = StepDownOrder(TODAY, 7, (AftercareItem.WEEKLY_OUTPATIENT_THERAPY,))


def check(*written_on: date, findings: tuple[date, ...] = (FINDING,),
          as_of: date = TODAY) -> SafetyPlanCheck:
    return check_safety_plan(written_on, [SignalRecord("phq9_item9", d) for d in findings],
                             as_of)


def test_without_a_risk_finding_nothing_is_required() -> None:
    found = check(findings=())
    assert (found.risk_found, found.status, found.reviewed_since_last_finding) == (
        False, SafetyPlanStatus.NOT_RECORDED, None)
    assert found.allows_less_care and found.needed is None


@pytest.mark.parametrize(("written_on", "allows"), [
    ((), False),
    ((FINDING - timedelta(days=1),), False),  # the day before the finding: not for it
    ((FINDING,), True),  # the same day counts
    ((FINDING - timedelta(days=9), FINDING + timedelta(days=1)), True),  # reviewed since
])
def test_the_plan_must_be_written_or_reviewed_on_or_after_the_latest_finding(
        written_on: tuple[date, ...], allows: bool) -> None:
    found = check(*written_on)
    assert found.allows_less_care is allows
    assert found.reviewed_since_last_finding is allows
    assert (found.needed is None) is allows


def test_the_latest_finding_decides_and_an_old_plan_must_be_reviewed() -> None:
    found = check(START, findings=(START, FINDING))
    assert (found.status, found.recorded_on, found.last_reviewed_on) == (
        SafetyPlanStatus.RECORDED, START, START)
    assert found.last_finding_on == FINDING
    assert not found.allows_less_care
    assert found.needed is not None and "review it" in found.needed
    missing = check()
    assert missing.needed is not None and "no safety plan is recorded" in missing.needed


def test_only_what_was_known_by_the_day_counts() -> None:
    later = FINDING + timedelta(days=5)
    assert check(later, as_of=FINDING).recorded_on is None
    assert check(findings=(later,), as_of=FINDING).risk_found is False


def test_a_step_down_after_risk_waits_for_the_reviewed_plan_even_when_eligible() -> None:
    plan = drafted_plan()
    with pytest.raises(SafetyPlanNeeded) as refused:
        plan.step_down(ELIGIBLE, ORDER, safety_plan=check(FINDING - timedelta(days=1)))
    assert refused.value.check.last_finding_on == FINDING
    assert not plan.pending
    overriding = StepDownOrder(TODAY, 7, ORDER.aftercare, override_reason="moving away")
    with pytest.raises(SafetyPlanNeeded):  # no override past it
        plan.step_down(ELIGIBLE, overriding, safety_plan=check())
    plan.step_down(ELIGIBLE, ORDER, safety_plan=check(FINDING))
    assert isinstance(plan.pending[0], SteppedDown)


def test_a_completed_discharge_after_risk_waits_for_the_reviewed_plan() -> None:
    plan = drafted_plan()
    with pytest.raises(SafetyPlanNeeded):
        plan.discharge(DischargeOutcome.COMPLETED, TODAY, safety_plan=check())
    plan.discharge(DischargeOutcome.COMPLETED, TODAY, safety_plan=check(TODAY))
    assert isinstance(plan.pending[0], Discharged)


@pytest.mark.parametrize("outcome", [DischargeOutcome.LEFT_AGAINST_ADVICE,
                                     DischargeOutcome.TRANSFERRED])
def test_leaving_against_advice_or_a_transfer_never_waits_for_it(
        outcome: DischargeOutcome) -> None:
    plan = drafted_plan()
    plan.discharge(outcome, TODAY, safety_plan=check())
    assert isinstance(plan.pending[0], Discharged)


def test_a_step_up_never_waits_for_it() -> None:
    plan = drafted_plan()
    plan.step_up(LevelOfCare.INPATIENT, [StepUpReasonCode.HIGH_SUICIDE_RISK], TODAY)
    assert isinstance(plan.pending[0], SteppedUp)


@pytest.mark.parametrize(("written_on", "status", "reviewed"), [
    ((), "not_recorded", False),
    ((START,), "recorded", False),
    ((START, FINDING), "recorded", True),
])
def test_the_exit_summary_shows_the_plan_and_whether_it_was_reviewed_since_risk(
        written_on: tuple[date, ...], status: str, reviewed: bool) -> None:
    record = ProgressRecord(START, 18, None, [], [], [SignalRecord("cssrs_moderate", FINDING)])
    summary = summarize_exit(record, "stepped_up", TODAY, follow_up_within_days=None,
                             safety_plan=check(*written_on))
    assert (summary.safety_plan, summary.safety_plan_reviewed_since_risk) == (status, reviewed)


def test_without_risk_the_summary_says_no_review_was_called_for() -> None:
    record = ProgressRecord(START, 18, None, [], [], [])
    summary = summarize_exit(record, "discharged", TODAY, follow_up_within_days=7,
                             safety_plan=check(findings=()))
    assert (summary.safety_plan, summary.safety_plan_reviewed_since_risk) == (
        "not_recorded", None)
