"""The GAD-7 and the C-SSRS "since last visit" screener, taken during the program. Pure.

- GAD-7 (Spitzer, Kroenke, Williams, Löwe 2006, Arch Intern Med 166:1092): 7 items
  scored 0-3, total 0-21; bands 0-4 minimal, 5-9 mild, 10-14 moderate, 15-21 severe.
  Re-measured in the program, it is what the anxiety objective (GAD-7 below 10) is met by.
- C-SSRS screener, "since last visit" version (Posner et al. 2011, Am J Psychiatry
  168:1266; the Columbia Lighthouse Project's since-last-visit screen): the same six
  questions as at intake, about the time since the patient was last seen. Triage as
  at intake: a wish to be dead or suicidal thoughts only → low; a method → moderate;
  intent, a plan, or behavior → high. Behavior since the last visit of a program seen
  weekly is always within the past 3 months, so it triages high.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from iopnet.catalog import RiskLevel, RiskSignal
from services.sessions.domain.outcomes import InvalidMeasure, check_items

GAD7_ITEMS = 7
_GAD7_BANDS = ((15, "severe"), (10, "moderate"), (5, "mild"), (0, "minimal"))
CSSRS_QUESTIONS = ("wish_to_be_dead", "suicidal_thoughts", "method", "intent", "plan",
                   "behavior")
#: The risk signals a C-SSRS triage raises: the same as at intake.
CSSRS_SIGNALS: dict[RiskLevel, RiskSignal] = {
    RiskLevel.MODERATE: RiskSignal.CSSRS_MODERATE,
    RiskLevel.HIGH: RiskSignal.CSSRS_HIGH,
}


@dataclass(frozen=True)
class Gad7:
    items: tuple[int, ...]

    def __post_init__(self) -> None:
        check_items(self.items, GAD7_ITEMS, "GAD-7")

    @property
    def total(self) -> int:
        return sum(self.items)

    @property
    def band(self) -> str:
        return gad7_band(self.total)


def gad7_band(total: int) -> str:
    return next(band for floor, band in _GAD7_BANDS if total >= floor)


@dataclass(frozen=True)
class CssrsSinceLastVisit:
    """The six yes/no answers, by question."""

    answers: Mapping[str, bool]

    def __post_init__(self) -> None:
        for question in CSSRS_QUESTIONS:
            answer = self.answers.get(question)
            if not isinstance(answer, bool):
                raise InvalidMeasure(f"answers/{question}", "must be yes (true) or no (false)")
        unknown = sorted(set(self.answers) - set(CSSRS_QUESTIONS))
        if unknown:
            raise InvalidMeasure(f"answers/{unknown[0]}", "is not a C-SSRS screener question")

    @property
    def yes_answers(self) -> int:
        return sum(1 for q in CSSRS_QUESTIONS if self.answers[q])

    @property
    def risk_level(self) -> RiskLevel:
        a = self.answers
        if a["intent"] or a["plan"] or a["behavior"]:
            return RiskLevel.HIGH
        if a["method"]:
            return RiskLevel.MODERATE
        if a["wish_to_be_dead"] or a["suicidal_thoughts"]:
            return RiskLevel.LOW
        return RiskLevel.NONE

    @property
    def risk_signals(self) -> list[RiskSignal]:
        signal = CSSRS_SIGNALS.get(self.risk_level)
        return [signal] if signal is not None else []
