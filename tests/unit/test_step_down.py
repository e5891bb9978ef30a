from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from services.plans.domain.step_down import (
    AttendanceTally,
    CriterionCode,
    InvalidStepDownInput,
    Phq9Measure,
    RiskSignal,
    RiskSignalKind,
    StepDownEvaluation,
    StepDownPolicy,
    StepUpReasonCode,
    evaluate_step_down,
    step_up_indicated,
)

pytestmark = pytest.mark.unit

ADMITTED = date(2026, 12, 1)
SIX_WEEKS = ADMITTED + timedelta(weeks=6)


def weekly(*totals: int, item9: int = 0) -> list[Phq9Measure]:
    """One PHQ-9 a week from the end of week 1, oldest first."""
    return [
        Phq9Measure(ADMITTED + timedelta(weeks=n), total, min(item9, total))
        for n, total in enumerate(totals, start=1)
    ]


def evaluate(
    *,
    evaluated_on: date = SIX_WEEKS,
    baseline: int = 20,
    measures: list[Phq9Measure] | None = None,
    signals: list[RiskSignal] | None = None,
    attended: int = 18,
    scheduled: int = 24,
    policy: StepDownPolicy | None = None,
) -> StepDownEvaluation:
    return evaluate_step_down(
        admitted_on=ADMITTED,
        evaluated_on=evaluated_on,
        baseline_phq9=baseline,
        measures=weekly(18, 15, 12, 9, 8, 7) if measures is None else measures,
        risk_signals=signals or [],
        attendance=AttendanceTally(attended, scheduled),
        policy=policy,
    )


def test_every_criterion_met_is_eligible() -> None:
    evaluation = evaluate()
    assert evaluation.eligible is True
    assert [c.code for c in evaluation.criteria] == list(CriterionCode)
    assert all(c.met and c.detail for c in evaluation.criteria)
    assert evaluation.unmet == ()


def test_default_policy() -> None:
    assert StepDownPolicy() == StepDownPolicy(6, 10, 0.5, 2, 0.75)


# --- Time in program -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("evaluated_on", "met"),
    [
        (SIX_WEEKS - timedelta(days=1), False),
        (SIX_WEEKS, True),
        (SIX_WEEKS + timedelta(days=1), True),
    ],
)
def test_minimum_time_in_program(evaluated_on: date, met: bool) -> None:
    evaluation = evaluate(evaluated_on=evaluated_on, measures=weekly(18, 15, 12, 9, 8))
    assert evaluation.criterion(CriterionCode.TIME_IN_PROGRAM).met is met
    assert evaluation.eligible is met


def test_minimum_time_is_per_site() -> None:
    policy = StepDownPolicy(min_weeks_in_program=8)
    evaluation = evaluate(evaluated_on=ADMITTED + timedelta(weeks=7), policy=policy)
    assert evaluation.unmet == (CriterionCode.TIME_IN_PROGRAM,)


# --- Symptoms --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last_two", "met"),
    [
        ((9, 9), True),
        ((9, 10), False),  # 10 is only 47% below a baseline of 19
        ((10, 9), False),
        ((10, 10), False),
        ((0, 0), True),
    ],
)
def test_below_threshold_on_both_last_measures(last_two: tuple[int, int], met: bool) -> None:
    evaluation = evaluate(baseline=19, measures=weekly(18, 15, *last_two))
    assert evaluation.criterion(CriterionCode.SYMPTOM_IMPROVEMENT).met is met


@pytest.mark.parametrize(
    ("baseline", "total", "met"),
    [
        (20, 10, True),   # exactly 50%
        (20, 11, False),  # 45%
        (22, 11, True),   # exactly 50%
        (22, 12, False),
        (21, 10, True),   # 52%
        (21, 11, False),  # 48%
        (9, 9, True),     # below 10 whatever the baseline
        (10, 10, False),  # neither below 10 nor any drop
    ],
)
def test_exact_fifty_percent_drop_counts(baseline: int, total: int, met: bool) -> None:
    evaluation = evaluate(baseline=baseline, measures=weekly(total, total))
    assert evaluation.criterion(CriterionCode.SYMPTOM_IMPROVEMENT).met is met


def test_exact_drop_counts_with_a_share_floats_cannot_represent() -> None:
    policy = StepDownPolicy(response_drop=0.3, phq9_threshold=5)
    assert evaluate(baseline=10, measures=weekly(7, 7), policy=policy).criterion(
        CriterionCode.SYMPTOM_IMPROVEMENT
    ).met


@pytest.mark.parametrize(
    ("measures", "consecutive", "met"),
    [
        ((9,), 2, False),      # one measure, two needed
        ((9, 9), 2, True),
        ((9,), 1, True),
        ((9, 9), 3, False),
        ((9, 9, 9), 3, True),
        ((), 1, False),
    ],
)
def test_consecutive_measures_needed(
    measures: tuple[int, ...], consecutive: int, met: bool
) -> None:
    policy = StepDownPolicy(consecutive_measures=consecutive)
    evaluation = evaluate(measures=weekly(*measures), policy=policy)
    assert evaluation.criterion(CriterionCode.SYMPTOM_IMPROVEMENT).met is met


def test_only_the_last_measures_count() -> None:
    evaluation = evaluate(measures=weekly(8, 8, 14, 9))
    assert evaluation.criterion(CriterionCode.SYMPTOM_IMPROVEMENT).met is False
    assert evaluate(measures=weekly(14, 9, 8)).criterion(CriterionCode.SYMPTOM_IMPROVEMENT).met


@pytest.mark.parametrize(("threshold", "met"), [(9, False), (10, True)])
def test_threshold_is_per_site(threshold: int, met: bool) -> None:
    policy = StepDownPolicy(phq9_threshold=threshold)
    evaluation = evaluate(baseline=12, measures=weekly(9, 9), policy=policy)
    assert evaluation.criterion(CriterionCode.SYMPTOM_IMPROVEMENT).met is met


def test_a_zero_baseline_has_no_response() -> None:
    policy = StepDownPolicy(phq9_threshold=1)
    evaluation = evaluate(baseline=0, measures=weekly(1, 1), policy=policy)
    assert evaluation.criterion(CriterionCode.SYMPTOM_IMPROVEMENT).met is False


# --- Risk signals ----------------------------------------------------------------------

# weekly(18, 15, 12, 9, 8, 7): the last two are on weeks 5 and 6.
PERIOD_START = ADMITTED + timedelta(weeks=5)


@pytest.mark.parametrize(
    ("occurred_on", "met"),
    [
        (PERIOD_START - timedelta(days=1), True),  # before the period
        (ADMITTED, True),
        (PERIOD_START, False),                      # the first qualifying measure's day
        (PERIOD_START + timedelta(days=3), False),
        (SIX_WEEKS, False),
    ],
)
def test_risk_signal_inside_the_period_blocks(occurred_on: date, met: bool) -> None:
    signals = [RiskSignal(occurred_on, RiskSignalKind.CSSRS)]
    evaluation = evaluate(signals=signals)
    assert evaluation.criterion(CriterionCode.NO_RISK_SIGNALS).met is met
    assert evaluation.eligible is met


@pytest.mark.parametrize(("week", "met"), [(4, True), (5, False), (6, False)])
def test_item9_on_a_qualifying_measure_is_a_risk_signal(week: int, met: bool) -> None:
    measures = weekly(18, 15, 12, 9, 8, 7)
    measures[week - 1] = Phq9Measure(measures[week - 1].measured_on, measures[week - 1].total, 1)
    evaluation = evaluate(measures=measures)
    assert evaluation.criterion(CriterionCode.NO_RISK_SIGNALS).met is met


def test_risk_period_follows_the_number_of_consecutive_measures() -> None:
    signal = [RiskSignal(ADMITTED + timedelta(weeks=4), RiskSignalKind.CLINICIAN_CONCERN)]
    for consecutive, met in ((2, True), (3, False)):
        policy = StepDownPolicy(consecutive_measures=consecutive)
        evaluation = evaluate(signals=signal, policy=policy)
        assert evaluation.criterion(CriterionCode.NO_RISK_SIGNALS).met is met


# --- Attendance ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attended", "scheduled", "met"),
    [
        (18, 24, True),   # exactly 75%
        (17, 24, False),
        (3, 4, True),
        (2, 3, False),
        (24, 24, True),
        (0, 0, False),    # nothing scheduled: no evidence of attendance
    ],
)
def test_attendance_rate(attended: int, scheduled: int, met: bool) -> None:
    evaluation = evaluate(attended=attended, scheduled=scheduled)
    assert evaluation.criterion(CriterionCode.ATTENDANCE).met is met


def test_several_criteria_unmet_are_all_reported() -> None:
    evaluation = evaluate(
        evaluated_on=ADMITTED + timedelta(weeks=3),
        measures=weekly(15, 12, 11),
        attended=5,
        scheduled=12,
    )
    assert evaluation.eligible is False
    assert evaluation.unmet == (
        CriterionCode.TIME_IN_PROGRAM,
        CriterionCode.SYMPTOM_IMPROVEMENT,
        CriterionCode.ATTENDANCE,
    )


# --- Invalid inputs --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"evaluated_on": ADMITTED - timedelta(days=1), "measures": []}, "evaluated_on"),
        ({"baseline": 28}, "baseline_phq9"),
        ({"measures": weekly(9, 28)}, "measures[1].total"),
        ({"measures": [Phq9Measure(SIX_WEEKS, 2, 4)]}, "measures[0].item9"),
        ({"measures": [Phq9Measure(SIX_WEEKS, 0, 1)]}, "measures[0].item9"),
        ({"measures": list(reversed(weekly(9, 8)))}, "measures[1].measured_on"),
        ({"measures": [Phq9Measure(SIX_WEEKS, 9), Phq9Measure(SIX_WEEKS, 8)]},
         "measures[1].measured_on"),
        ({"measures": [Phq9Measure(ADMITTED - timedelta(days=1), 9)]}, "measures[0].measured_on"),
        ({"measures": [Phq9Measure(SIX_WEEKS + timedelta(days=1), 9)]},
         "measures[0].measured_on"),
        ({"attended": 25, "scheduled": 24}, "attendance.attended"),
        ({"attended": -1}, "attendance.attended"),
        ({"attended": 0, "scheduled": -1}, "attendance.scheduled"),
    ],
)
def test_evaluation_rejects_impossible_inputs(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidStepDownInput) as raised:
        evaluate(**kwargs)
    assert raised.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"min_weeks_in_program": -1}, "min_weeks_in_program"),
        ({"phq9_threshold": 0}, "phq9_threshold"),
        ({"phq9_threshold": 28}, "phq9_threshold"),
        ({"response_drop": 0}, "response_drop"),
        ({"response_drop": 1.1}, "response_drop"),
        ({"consecutive_measures": 0}, "consecutive_measures"),
        ({"min_attendance_rate": 1.5}, "min_attendance_rate"),
    ],
)
def test_policy_rejects_impossible_criteria(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidStepDownInput) as raised:
        StepDownPolicy(**kwargs)
    assert raised.value.field == field


# --- Step-up ---------------------------------------------------------------------------


def test_no_step_up_when_improving() -> None:
    indication = step_up_indicated(baseline_phq9=18, measures=weekly(16, 14, 12))
    assert indication.indicated is False
    assert indication.reasons == ()
    assert indication.review_required is False


def test_high_cssrs_indicates_step_up_even_without_measures() -> None:
    indication = step_up_indicated(baseline_phq9=12, measures=[], cssrs_high=True)
    assert indication.indicated is True
    assert [r.code for r in indication.reasons] == [StepUpReasonCode.HIGH_SUICIDE_RISK]


@pytest.mark.parametrize(
    ("baseline", "totals", "codes"),
    [
        (12, (15, 16), []),                                   # 4 above baseline
        (12, (15, 17), [StepUpReasonCode.RISE_ABOVE_BASELINE]),  # 5 above baseline
        (12, (8, 12), []),                                     # 4 above the previous
        (12, (7, 12), [StepUpReasonCode.RISE_ABOVE_PREVIOUS]),   # 5 above the previous
        (
            12,
            (10, 17),
            [StepUpReasonCode.RISE_ABOVE_BASELINE, StepUpReasonCode.RISE_ABOVE_PREVIOUS],
        ),
        (12, (20, 10), []),                                    # the spike has passed
        (12, (17,), [StepUpReasonCode.RISE_ABOVE_BASELINE]),
    ],
)
def test_marked_rise_in_phq9(
    baseline: int, totals: tuple[int, ...], codes: list[StepUpReasonCode]
) -> None:
    indication = step_up_indicated(baseline_phq9=baseline, measures=weekly(*totals))
    assert [r.code for r in indication.reasons] == codes
    assert all(r.text for r in indication.reasons)


def test_marked_rise_is_configurable() -> None:
    indication = step_up_indicated(baseline_phq9=12, measures=weekly(15), marked_rise=3)
    assert [r.code for r in indication.reasons] == [StepUpReasonCode.RISE_ABOVE_BASELINE]


@pytest.mark.parametrize(
    ("item9", "judged", "indicated", "review"),
    [
        (0, False, False, False),
        (0, True, False, False),   # judgement without item 9 is not this rule
        (1, False, False, True),   # awaits the clinician's judgement
        (1, True, True, False),
        (3, True, True, False),
    ],
)
def test_item9_indicates_step_up_only_with_clinician_judgement(
    item9: int, judged: bool, indicated: bool, review: bool
) -> None:
    indication = step_up_indicated(
        baseline_phq9=12,
        measures=weekly(12, 12, item9=item9),
        clinician_judges_item9_risk=judged,
    )
    assert indication.indicated is indicated
    assert indication.review_required is review
    if indicated:
        assert [r.code for r in indication.reasons] == [StepUpReasonCode.SELF_HARM_THOUGHTS]


def test_only_the_latest_item9_counts_for_step_up() -> None:
    measures = [*weekly(12, item9=2), *weekly(12, 12)[1:]]
    indication = step_up_indicated(
        baseline_phq9=12, measures=measures, clinician_judges_item9_risk=True
    )
    assert indication.indicated is False


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"baseline_phq9": -1, "measures": []}, "baseline_phq9"),
        ({"baseline_phq9": 12, "measures": weekly(9, 30)}, "measures[1].total"),
        ({"baseline_phq9": 12, "measures": [], "marked_rise": 0}, "marked_rise"),
    ],
)
def test_step_up_rejects_impossible_inputs(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidStepDownInput) as raised:
        step_up_indicated(**kwargs)
    assert raised.value.field == field
