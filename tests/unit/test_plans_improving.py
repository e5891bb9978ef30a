""""Improving" has one definition, plans': a PHQ-9 5 points or more below the baseline
(Löwe 2004) or a response (at least 50% below it; Kroenke 2001); worsening 5 or more above;
stable otherwise. Plans publishes it on ProgressJudged, once per measure."""

from __future__ import annotations

from datetime import date

import pytest

from iopnet.catalog import Phq9Trend, ProgressJudged
from services.plans.domain import TreatmentPlan
from services.plans.domain.progress import Measure, trend
from tests.fixtures.plans import drafted_plan

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("baseline", "total", "expected"), [
    (18, 13, Phq9Trend.IMPROVING),  # 5 down: the change that matters
    (18, 14, Phq9Trend.STABLE),  # 4 down
    (18, 18, Phq9Trend.STABLE),
    (18, 22, Phq9Trend.STABLE),  # 4 up
    (18, 23, Phq9Trend.WORSENING),  # 5 up
    (8, 4, Phq9Trend.IMPROVING),  # 4 down, but half the baseline: a response
    (8, 5, Phq9Trend.STABLE),  # 3 down, short of half
    (0, 0, Phq9Trend.STABLE),
    (0, 5, Phq9Trend.WORSENING),
])
def test_improving_is_5_points_down_or_a_response_and_worsening_5_points_up(
        baseline: int, total: int, expected: Phq9Trend) -> None:
    assert trend(baseline, total) is expected


def test_each_phq9_is_judged_once_and_published() -> None:
    plan = drafted_plan()
    measure = Measure("phq9", date(2026, 12, 8), 9, item9=0, program_week=2)
    judged = plan.judge_progress("m-1", measure, 18)
    assert isinstance(judged, ProgressJudged) and judged.published
    assert (judged.trend, judged.response, judged.remission, judged.program_week) == (
        Phq9Trend.IMPROVING, True, False, 2)
    assert plan.judge_progress("m-1", measure, 18) is None  # a redelivery judges nothing
    assert plan.judge_progress("m-2", Measure("gad7", date(2026, 12, 8), 9), 18) is None
    assert [type(e) for e in plan.pending] == [ProgressJudged]


def test_nothing_is_judged_before_the_draft() -> None:
    assert TreatmentPlan("p-1").judge_progress(
        "m-1", Measure("phq9", date(2026, 12, 8), 9), 18) is None
