"""The progress a support person may be told of: a direction and a status, never scores.

The direction is plans' judgement (``ProgressJudged.trend``), the one "improving"."""

from __future__ import annotations

from enum import StrEnum

from iopnet.catalog import DischargeOutcome


class CareStatus(StrEnum):
    IN_PROGRAM = "in_program"
    STEPPED_DOWN = "stepped_down"
    STEPPED_UP = "stepped_up"
    COMPLETED = "completed"
    DISCHARGED = "discharged"


def status_after_discharge(outcome: DischargeOutcome) -> CareStatus:
    return CareStatus.COMPLETED if outcome is DischargeOutcome.COMPLETED else CareStatus.DISCHARGED
