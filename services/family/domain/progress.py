"""The progress a support person may be told of: a direction and a status, never scores."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from iopnet.catalog import DischargeOutcome

#: The smallest PHQ-9 change that matters clinically (points).
MEANINGFUL_CHANGE = 5


class Trend(StrEnum):
    IMPROVING = "improving"
    STABLE = "stable"
    WORSENING = "worsening"


class CareStatus(StrEnum):
    IN_PROGRAM = "in_program"
    STEPPED_DOWN = "stepped_down"
    STEPPED_UP = "stepped_up"
    COMPLETED = "completed"
    DISCHARGED = "discharged"


def phq9_trend(baseline: int | None, totals: Sequence[int]) -> Trend | None:
    """The latest PHQ-9 against the baseline (or the first measure); None before any measure."""
    if not totals:
        return None
    reference = baseline if baseline is not None else totals[0]
    change = totals[-1] - reference
    if change <= -MEANINGFUL_CHANGE:
        return Trend.IMPROVING
    if change >= MEANINGFUL_CHANGE:
        return Trend.WORSENING
    return Trend.STABLE


def status_after_discharge(outcome: DischargeOutcome) -> CareStatus:
    return CareStatus.COMPLETED if outcome is DischargeOutcome.COMPLETED else CareStatus.DISCHARGED
