"""Every exit records its summary; aftercare follows up within 7 days by default and 30 at
most (HEDIS FUH); leaving against advice raises an urgent alert."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from iopnet.catalog import DischargeOutcome
from services.plans.domain import check_safety_plan
from services.plans.domain.exit_summary import check_follow_up, summarize_exit
from services.plans.domain.plan_drafting import InvalidPlanInput
from services.plans.domain.progress import (
    Measure,
    ProgressRecord,
    SessionRecord,
    SessionStatus,
    SignalRecord,
)

pytestmark = pytest.mark.unit

START = date(2026, 12, 7)


def day(n: int) -> date:
    return START + timedelta(days=n)


def record(*totals: int, baseline: int = 20) -> ProgressRecord:
    return ProgressRecord(
        START, baseline, None,
        [SessionRecord("s-1", day(1), SessionStatus.ATTENDED),
         SessionRecord("s-2", day(2), SessionStatus.MISSED_UNEXCUSED),
         SessionRecord("s-3", day(60), SessionStatus.SCHEDULED)],
        [Measure("phq9", day(7 * (n + 1)), t) for n, t in enumerate(totals)]
        + [Measure("gad7", day(3), 12)],
        [SignalRecord("phq9_item9", day(7)), SignalRecord("cssrs_moderate", day(8))])


NONE_WRITTEN = check_safety_plan([], [], START)


@pytest.mark.parametrize(("days", "kept"), [(None, 7), (1, 1), (7, 7), (30, 30)])
def test_follow_up_is_7_days_unless_said(days: int | None, kept: int) -> None:
    assert check_follow_up(days) == kept


@pytest.mark.parametrize("days", [0, 31, 60])
def test_follow_up_beyond_30_days_is_refused_naming_the_field(days: int) -> None:
    with pytest.raises(InvalidPlanInput) as refused:
        check_follow_up(days)
    assert refused.value.field == "follow_up_within_days"


@pytest.mark.parametrize(("last", "response", "remission"), [
    (11, False, False), (10, True, False), (5, True, False), (4, True, True)])
def test_response_is_half_the_baseline_and_remission_below_5(last: int, response: bool,
                                                              remission: bool) -> None:
    summary = summarize_exit(record(18, last), "stepped_down", day(30),
                             follow_up_within_days=7, safety_plan=NONE_WRITTEN)
    assert (summary.first_phq9, summary.last_phq9) == (18, last)
    assert (summary.response, summary.remission) == (response, remission)
    assert (summary.sessions_attended, summary.sessions_scheduled) == (1, 2)
    assert summary.risk_signals == ["cssrs_moderate", "phq9_item9"]
    assert (summary.safety_plan, summary.urgent_alert) == ("not_recorded", False)


def test_leaving_against_advice_raises_an_urgent_alert() -> None:
    summary = summarize_exit(record(), "discharged", day(10), follow_up_within_days=7,
                             safety_plan=NONE_WRITTEN,
                             outcome=DischargeOutcome.LEFT_AGAINST_ADVICE)
    assert summary.urgent_alert
    assert (summary.first_phq9, summary.last_phq9, summary.response) == (None, None, False)
    completed = summarize_exit(record(), "discharged", day(10), follow_up_within_days=7,
                               safety_plan=NONE_WRITTEN, outcome=DischargeOutcome.COMPLETED)
    assert not completed.urgent_alert
