"""The progress a support person may be told of: a direction, never a score."""

import pytest

from iopnet.catalog import DischargeOutcome
from services.family.domain import CareStatus, Trend, phq9_trend, status_after_discharge

pytestmark = pytest.mark.unit


def test_no_measure_yet_has_no_trend() -> None:
    assert phq9_trend(18, []) is None


@pytest.mark.parametrize(("latest", "trend"), [
    (13, Trend.IMPROVING),   # 5 points down: a meaningful change
    (14, Trend.STABLE),      # 4 down
    (18, Trend.STABLE),
    (22, Trend.STABLE),      # 4 up
    (23, Trend.WORSENING),   # 5 up
])
def test_the_latest_measure_against_the_baseline(latest: int, trend: Trend) -> None:
    assert phq9_trend(18, [20, latest]) is trend


def test_without_a_baseline_the_first_measure_is_the_reference() -> None:
    assert phq9_trend(None, [20, 15]) is Trend.IMPROVING
    assert phq9_trend(None, [20]) is Trend.STABLE


def test_only_a_completed_program_reads_as_completed() -> None:
    assert status_after_discharge(DischargeOutcome.COMPLETED) is CareStatus.COMPLETED
    assert status_after_discharge(DischargeOutcome.LEFT_AGAINST_ADVICE) is CareStatus.DISCHARGED
    assert status_after_discharge(DischargeOutcome.TRANSFERRED) is CareStatus.DISCHARGED
