"""Progress from sessions' events: attendance, PHQ-9 trajectory, goals, step-down, step-up."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.plans.domain.plan_drafting import Findings, ProblemCode, RiskLevel, draft_plan
from services.plans.domain.progress import (
    Measure,
    ObjectiveStatus,
    ProgressRecord,
    SessionRecord,
    SessionStatus,
    SignalRecord,
    attendance,
    evaluate,
    objectives,
    phq9_series,
    step_up,
    trajectory,
)
from services.plans.domain.step_down import CriterionCode, StepDownPolicy, StepUpReasonCode

pytestmark = pytest.mark.unit

START = date(2026, 12, 1)


def day(n: int) -> date:
    return START + timedelta(days=n)


def sessions(attended: int, missed: int = 0, excused: int = 0) -> list[SessionRecord]:
    statuses = ([SessionStatus.ATTENDED] * attended + [SessionStatus.MISSED_UNEXCUSED] * missed
                + [SessionStatus.MISSED_EXCUSED] * excused)
    return [SessionRecord(f"s{n}", day(n), status) for n, status in enumerate(statuses)]


def phq9(*totals: int, item9: int = 0) -> list[Measure]:
    return [Measure("phq9", day(7 * (n + 1)), total, item9, n + 2)
            for n, total in enumerate(totals)]


def record(sessions: list[SessionRecord] | None = None, measures: list[Measure] | None = None,
           signals: list[SignalRecord] | None = None, baseline: int = 18) -> ProgressRecord:
    return ProgressRecord(START, baseline, 12, sessions or [], measures or [], signals or [])


def test_attendance_counts_only_sessions_up_to_the_day_and_never_cancelled_or_waitlisted(
) -> None:
    held = [
        *sessions(attended=3, missed=1, excused=1),
        SessionRecord("late", day(5), SessionStatus.ATTENDED, late_minutes=10),
        SessionRecord("gone", day(6), SessionStatus.CANCELLED),
        SessionRecord("wait", day(6), SessionStatus.SCHEDULED, waitlisted=True),
        SessionRecord("next", day(9), SessionStatus.SCHEDULED),
    ]
    counts = attendance(held, day(6))
    assert (counts.scheduled_to_date, counts.attended, counts.missed_unexcused,
            counts.missed_excused, counts.late, counts.upcoming) == (6, 4, 1, 1, 1, 1)
    assert counts.rate == pytest.approx(4 / 6)
    assert attendance([], day(6)).rate is None


def test_trajectory_against_baseline_flags_response_and_remission() -> None:
    points = trajectory(record(measures=phq9(14, 10, 9, 4)), day(60))
    assert [(p.total, p.change_from_baseline) for p in points] == [
        (14, -4), (10, -8), (9, -9), (4, -14)]
    assert [p.response for p in points] == [False, False, True, True]  # 18 → 9 is 50%
    assert [p.remission for p in points] == [False, False, False, True]


def test_one_phq9_a_day_counts_and_none_outside_the_episode() -> None:
    measures = [Measure("phq9", day(-1), 20), Measure("phq9", day(7), 15),
                Measure("phq9", day(7), 12), Measure("gad7", day(7), 9),
                Measure("phq9", day(30), 8)]
    assert [m.total for m in phq9_series(record(measures=measures), day(14))] == [12]


def test_the_depression_objective_is_met_below_10_or_at_half_the_baseline() -> None:
    plan = draft_plan(Findings(18, RiskLevel.LOW, True, 4, 10, START, "c", gad7=12))

    def statuses(measures: list[Measure]) -> dict[str, ObjectiveStatus]:
        return {o.objective_id: o.status for o in objectives(plan, record(measures=measures),
                                                             day(60))}

    assert statuses(phq9(10))["P1.G1.O1"] is ObjectiveStatus.NOT_MET
    assert statuses(phq9(9))["P1.G1.O1"] is ObjectiveStatus.MET
    assert statuses([])["P1.G1.O1"] is ObjectiveStatus.NOT_MET
    measured = statuses([*phq9(9), Measure("gad7", day(8), 9)])
    assert measured == {"P1.G1.O1": ObjectiveStatus.MET, "P1.G2.O1": ObjectiveStatus.NOT_MEASURED,
                        "P2.G1.O1": ObjectiveStatus.MET, "P3.G1.O1": ObjectiveStatus.NOT_MEASURED}
    high_baseline = draft_plan(Findings(24, RiskLevel.NONE, False, 4, 10, START, "c"))
    met = objectives(high_baseline, record(measures=phq9(12), baseline=24), day(60))
    assert met[0].status is ObjectiveStatus.MET  # 24 → 12 is a 50% drop


def test_step_down_evaluation_from_progress_meets_every_criterion() -> None:
    progress = record(sessions(attended=30, missed=5), phq9(12, 9, 8))
    evaluation = evaluate(progress, StepDownPolicy(), day(42))
    assert evaluation.eligible, evaluation.criteria


def test_step_down_evaluation_lists_what_is_unmet() -> None:
    signal = SignalRecord("phq9_item9", day(21))
    progress = record(sessions(attended=10, missed=10), phq9(12, 9, 8), [signal])
    evaluation = evaluate(progress, StepDownPolicy(), day(30))
    assert set(evaluation.unmet) == {CriterionCode.TIME_IN_PROGRAM, CriterionCode.ATTENDANCE,
                                     CriterionCode.NO_RISK_SIGNALS}


def test_a_risk_signal_after_the_day_evaluated_does_not_count_yet() -> None:
    progress = record(sessions(attended=30), phq9(12, 9, 8),
                      [SignalRecord("cssrs_moderate", day(50))])
    assert evaluate(progress, StepDownPolicy(), day(42)).eligible


def test_a_risk_signal_on_the_day_evaluated_counts() -> None:
    progress = record(sessions(attended=30), phq9(12, 9, 8),
                      [SignalRecord("cssrs_moderate", day(42))])
    evaluation = evaluate(progress, StepDownPolicy(), day(42))
    assert not evaluation.eligible
    assert set(evaluation.unmet) == {CriterionCode.NO_RISK_SIGNALS}


def test_site_policy_decides_the_criteria() -> None:
    progress = record(sessions(attended=30, missed=5), phq9(12, 9, 8))
    strict = StepDownPolicy(min_weeks_in_program=8, min_attendance_rate=0.9)
    assert set(evaluate(progress, strict, day(42)).unmet) == {
        CriterionCode.TIME_IN_PROGRAM, CriterionCode.ATTENDANCE}


def test_step_up_is_indicated_by_a_marked_phq9_rise_or_high_cssrs() -> None:
    assert not step_up(record(measures=phq9(15, 14)), day(30)).indicated
    rise = step_up(record(measures=phq9(10, 15)), day(30))
    assert [r.code for r in rise.reasons] == [StepUpReasonCode.RISE_ABOVE_PREVIOUS]
    cssrs = step_up(record(measures=phq9(10), signals=[SignalRecord("cssrs_high", day(8))]),
                    day(30))
    assert [r.code for r in cssrs.reasons] == [StepUpReasonCode.HIGH_SUICIDE_RISK]
    recovered = record(measures=phq9(10, 9), signals=[SignalRecord("cssrs_high", day(8))])
    assert not step_up(recovered, day(30)).indicated
    assert step_up(record(measures=phq9(12, item9=1)), day(30)).review_required


def test_a_moderate_cssrs_in_the_program_asks_for_review_and_blocks_step_down() -> None:
    moderate = record(measures=phq9(10), signals=[SignalRecord("cssrs_moderate", day(8))])
    indication = step_up(moderate, day(30))
    assert (indication.indicated, indication.review_required) == (False, True)
    assert not step_up(record(measures=phq9(10)), day(30)).review_required


def test_the_anxiety_objective_is_met_by_a_gad7_below_10_measured_in_the_program() -> None:
    plan = draft_plan(Findings(18, RiskLevel.NONE, False, 4, 10, START, "c", gad7=14))
    anxious = [g for g in objectives(plan, record(measures=[
        Measure("gad7", day(14), 12)]), day(30)) if g.problem_code is ProblemCode.ANXIETY]
    assert [g.status for g in anxious] == [ObjectiveStatus.NOT_MET]
    calmer = record(measures=[Measure("gad7", day(14), 12), Measure("gad7", day(21), 9)])
    met = [g for g in objectives(plan, calmer, day(30)) if g.problem_code is ProblemCode.ANXIETY]
    assert [g.status for g in met] == [ObjectiveStatus.MET]
