"""The progress a support person may be told of: a direction, never a score. The direction
is plans' one definition of "improving" (``ProgressJudged.trend``)."""

import pytest

from iopnet.catalog import DischargeOutcome
from services.family.domain import CareStatus, status_after_discharge

pytestmark = pytest.mark.unit


def test_only_a_completed_program_reads_as_completed() -> None:
    assert status_after_discharge(DischargeOutcome.COMPLETED) is CareStatus.COMPLETED
    assert status_after_discharge(DischargeOutcome.LEFT_AGAINST_ADVICE) is CareStatus.DISCHARGED
    assert status_after_discharge(DischargeOutcome.TRANSFERRED) is CareStatus.DISCHARGED
