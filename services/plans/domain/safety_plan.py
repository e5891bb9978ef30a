"""Whether the patient's safety plan allows a transition to less care. Pure.

The safety plan is intake's (it writes it, and publishes ``SafetyPlanRecorded`` and
``SafetyPlanReviewed``, dates only); plans learns of it, and of every risk finding
(``RiskSignalRaised`` from intake and sessions), through the events it consumes.

- Required before a step-down or a completed discharge when risk was ever found in
  the episode: Stanley & Brown 2012 (Safety Planning Intervention: A Brief
  Intervention to Mitigate Suicide Risk, Cognitive and Behavioral Practice
  19:256-264): a written, prioritized plan for anyone who has had a suicidal crisis,
  to be used when the next one comes, as it may once care is less intense.
- Reviewed since the latest finding: a plan written before the latest finding does
  not yet account for it. The VA/DoD Clinical Practice Guideline for the Assessment
  and Management of Patients at Risk for Suicide (2019) has follow-up include the
  "update of the safety plan", follow-up being closest after a change in treatment
  or a transition to a less restrictive setting. So a step-down or a completed
  discharge needs the plan written or reviewed on or after the day of the latest
  finding; a review the same day counts.
- Safety first: a step-up, leaving against advice or a transfer out is never held
  back by it; their summary shows the plan's status all the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from services.plans.domain.progress import SignalRecord


class SafetyPlanStatus(StrEnum):
    """``ExitSummarized.safety_plan``: intake published a plan, or it did not."""

    RECORDED = "recorded"
    NOT_RECORDED = "not_recorded"


@dataclass(frozen=True)
class SafetyPlanCheck:
    """The safety plan against the episode's risk findings, as of a day."""

    last_finding_on: date | None
    """The day of the latest risk finding; None when risk was never found."""
    recorded_on: date | None
    """The day the plan was first written; None when intake has published none."""
    last_reviewed_on: date | None
    """The latest day it was written or reviewed."""

    @property
    def risk_found(self) -> bool:
        return self.last_finding_on is not None

    @property
    def status(self) -> SafetyPlanStatus:
        return (SafetyPlanStatus.RECORDED if self.recorded_on is not None
                else SafetyPlanStatus.NOT_RECORDED)

    @property
    def reviewed_since_last_finding(self) -> bool | None:
        """None when there is no finding to review it for."""
        if self.last_finding_on is None:
            return None
        return self.last_reviewed_on is not None and self.last_reviewed_on >= self.last_finding_on

    @property
    def allows_less_care(self) -> bool:
        """A step-down or a completed discharge may go ahead."""
        return self.reviewed_since_last_finding is not False

    @property
    def needed(self) -> str | None:
        """What is missing before less care, in words; None when nothing is."""
        if self.allows_less_care:
            return None
        if self.recorded_on is None:
            return (f"risk was found (latest on {self.last_finding_on}) and no safety plan is "
                    "recorded: record one with the patient at intake first")
        return (f"the safety plan was last reviewed on {self.last_reviewed_on}, before the "
                f"latest risk finding on {self.last_finding_on}: review it with the patient "
                "at intake first")


def check_safety_plan(written_on: Sequence[date], signals: Sequence[SignalRecord],
                      as_of: date) -> SafetyPlanCheck:
    """``written_on``: the days the plan was recorded or reviewed, in any order. Only what
    was known by ``as_of`` counts."""
    findings = [s.observed_on for s in signals if s.observed_on <= as_of]
    written = sorted(day for day in written_on if day <= as_of)
    return SafetyPlanCheck(last_finding_on=max(findings, default=None),
                           recorded_on=written[0] if written else None,
                           last_reviewed_on=written[-1] if written else None)
