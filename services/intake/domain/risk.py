"""Which answers a decision rests on, and which risk findings are still in force. Pure.

An instrument describes a period before the day it was taken, so it can inform a
decision only inside that period (its *window*):

- PHQ-9 and GAD-7: "over the last 2 weeks" (Kroenke, Spitzer & Williams 2001,
  J Gen Intern Med 16:606-613; Spitzer et al. 2006, Arch Intern Med 166:1092-1097).
- C-SSRS screener, recent version: ideation "in the past month", suicidal behaviour
  lifetime and "in the past 3 months" (Posner et al. 2011, Am J Psychiatry
  168:1266-1277; the Columbia screener with triage).
- AUDIT-C: drinking "in the past year" (Bush et al. 1998, Arch Intern Med 158:1789-1795).

A risk finding (PHQ-9 item 9 above 0, any yes on the C-SSRS) stays in force for its
look-back whatever is recorded after it: a later benign screen adds to the record, it
does not erase it. C-SSRS ideation (wish, thoughts, method, intent, plan) stays in force
for a month, behaviour for 3 months, PHQ-9 item 9 for 2 weeks. Only two things clear a
finding: the assessment corrected as entered in error, or a clinician's documented risk
review that judged the findings before it no longer current.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Any

from iopnet.catalog import Instrument
from services.intake.domain.instruments import (
    CssrsAnswers,
    CssrsResult,
    CssrsRisk,
    Phq9Result,
    Score,
    score_cssrs,
)

#: How far back an instrument's answers reach: a decision rests only on answers inside it.
WINDOWS: dict[Instrument, timedelta] = {
    Instrument.PHQ9: timedelta(days=14),
    Instrument.GAD7: timedelta(days=14),
    Instrument.CSSRS: timedelta(days=30),
    Instrument.AUDITC: timedelta(days=365),
}
PHQ9_ITEM9_IN_FORCE = timedelta(days=14)
CSSRS_IDEATION_IN_FORCE = timedelta(days=30)
CSSRS_BEHAVIOUR_IN_FORCE = timedelta(days=91)  # 3 months, counted generously
_IDEATION = ("wish_to_be_dead", "suicidal_thoughts", "method", "intent", "plan")


@dataclass(frozen=True)
class Screen:
    """One recorded instrument: its score, the day it describes, its place in the case."""

    assessment_id: str
    result: Score[Any]
    assessed_on: date
    order: int

    @property
    def instrument(self) -> Instrument:
        return self.result.instrument

    @property
    def finds_risk(self) -> bool:
        """PHQ-9 item 9 above 0, or any yes on the C-SSRS."""
        if isinstance(self.result, Phq9Result):
            return self.result.item9 > 0
        if isinstance(self.result, CssrsResult):
            return self.result.risk is not CssrsRisk.NONE
        return False

    def age_on(self, day: date) -> timedelta:
        return day - self.assessed_on


@dataclass(frozen=True)
class Review:
    """A clinician's documented risk review, at its place in the case."""

    review_id: str
    clinician_id: str
    reviewed_on: date
    findings_cleared: bool
    order: int


def inside_window(screen: Screen, day: date) -> bool:
    """Whether the screen can inform a decision on ``day`` (its window, both ends included)."""
    return timedelta(0) <= screen.age_on(day) <= WINDOWS[screen.instrument]


def older_than_window(instrument: Instrument, assessed_on: date, today: date) -> bool:
    return today - assessed_on > WINDOWS[instrument]


@dataclass(frozen=True)
class RiskRecord:
    """The case's screens and reviews, less the ones entered in error."""

    screens: tuple[Screen, ...]
    reviews: tuple[Review, ...] = ()

    @classmethod
    def of(cls, screens: Iterable[Screen], in_error: set[str],
           reviews: Sequence[Review] = ()) -> RiskRecord:
        return cls(tuple(s for s in screens if s.assessment_id not in in_error), tuple(reviews))

    def cleared(self, screen: Screen) -> bool:
        """A review recorded after the screen judged its findings no longer current."""
        return any(r.findings_cleared and r.order > screen.order for r in self.reviews)

    def in_force(self, day: date) -> list[Screen]:
        return [s for s in self.screens if s.finds_risk and not self.cleared(s)
                and s.age_on(day) >= timedelta(0)]

    def item9_in_force(self, day: date) -> int:
        """The highest PHQ-9 item 9 of the last 2 weeks not cleared (0 when none)."""
        return max((s.result.item9 for s in self.in_force(day)
                    if isinstance(s.result, Phq9Result)
                    and s.age_on(day) <= PHQ9_ITEM9_IN_FORCE), default=0)

    def cssrs_in_force(self, day: date) -> CssrsResult:
        """Every C-SSRS answer still in force, as one screen scored by the screener's triage."""
        merged = {f.name: False for f in fields(CssrsAnswers)} | {"behavior_within_3_months": None}
        for screen in self.in_force(day):
            if not isinstance(screen.result, CssrsResult):
                continue
            answers, age = screen.result.answers, screen.age_on(day)
            if age <= CSSRS_IDEATION_IN_FORCE:
                for question in _IDEATION:
                    merged[question] = merged[question] or getattr(answers, question)
            if age <= CSSRS_BEHAVIOUR_IN_FORCE and answers.behavior:
                merged["behavior"] = True
                merged["behavior_within_3_months"] = bool(
                    merged["behavior_within_3_months"] or answers.behavior_within_3_months)
        return score_cssrs(merged)

    @property
    def risk_ever_found(self) -> bool:
        """Ideation, a positive item 9 or any C-SSRS finding, cleared by review or not."""
        return any(s.finds_risk for s in self.screens)

    def evaluated_since_last_finding(self) -> bool:
        """A clinician reviewed the risk on or after the newest finding's day, after it was
        recorded: the same-day evaluation a finding calls for."""
        findings = [s for s in self.screens if s.finds_risk]
        if not findings:
            return True
        newest = max(findings, key=lambda s: s.order)
        return any(r.order > newest.order and r.reviewed_on >= newest.assessed_on
                   for r in self.reviews)
