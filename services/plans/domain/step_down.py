"""Step-down and step-up rules, against a site's policy. Pure; no I/O.

Step-down to standard outpatient needs every criterion (a clinician confirms):

- time in program: at least ``min_weeks_in_program`` whole weeks since admission;
- symptoms: each of the last ``consecutive_measures`` PHQ-9 measures is below
  ``phq9_threshold`` or at least ``response_drop`` below the baseline;
- no risk signals in the period of those measures: from the first of them on
  (a signal that day counts; PHQ-9 item 9 > 0 on any of them counts too);
- attendance: attended / scheduled sessions at least ``min_attendance_rate``.

Step-up to a higher level is indicated by any of: a C-SSRS screen triaged high (at
intake or, "since last visit", in the program); a
marked rise in PHQ-9 (the latest measure ``marked_rise`` points or more above the
baseline, or above the measure before it: a sudden worsening matters even when
the baseline was low); or item 9 > 0 on the latest measure when the clinician
judges it a reason to step up. Item 9 > 0 without that judgement yet only asks
for the clinician's review, as a C-SSRS triaged moderate does. Only the latest
measure counts: a past spike the patient has recovered from does not indicate
step-up now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from fractions import Fraction

from iopnet.fields import InvalidField

PHQ9_MAX_TOTAL = 27
#: Points of PHQ-9 rise that count as a marked worsening.
MARKED_RISE = 5


class InvalidStepDownInput(InvalidField):
    """A policy or inputs the rules cannot evaluate; ``field`` names the offending input."""



@dataclass(frozen=True)
class StepDownPolicy:
    """A site's step-down criteria (``SitePolicies.step_down_*`` in the catalog)."""

    min_weeks_in_program: int = 6
    phq9_threshold: int = 10
    response_drop: float = 0.5
    consecutive_measures: int = 2
    min_attendance_rate: float = 0.75

    def __post_init__(self) -> None:
        if not _is_int(self.min_weeks_in_program) or self.min_weeks_in_program < 0:
            raise InvalidStepDownInput("min_weeks_in_program", "must be 0 or more")
        if not _is_int(self.phq9_threshold) or not 1 <= self.phq9_threshold <= PHQ9_MAX_TOTAL:
            raise InvalidStepDownInput("phq9_threshold", "must be 1-27")
        if not 0 < self.response_drop <= 1:
            raise InvalidStepDownInput("response_drop", "must be above 0 and at most 1")
        if not _is_int(self.consecutive_measures) or self.consecutive_measures < 1:
            raise InvalidStepDownInput("consecutive_measures", "must be 1 or more")
        if not 0 <= self.min_attendance_rate <= 1:
            raise InvalidStepDownInput("min_attendance_rate", "must be 0-1")


@dataclass(frozen=True)
class Phq9Measure:
    measured_on: date
    total: int
    item9: int = 0


class RiskSignalKind(StrEnum):
    PHQ9_ITEM9 = "phq9_item9"
    CSSRS = "cssrs"
    CLINICIAN_CONCERN = "clinician_concern"


@dataclass(frozen=True)
class RiskSignal:
    occurred_on: date
    kind: RiskSignalKind


@dataclass(frozen=True)
class AttendanceTally:
    attended: int
    scheduled: int


class CriterionCode(StrEnum):
    TIME_IN_PROGRAM = "time_in_program"
    SYMPTOM_IMPROVEMENT = "symptom_improvement"
    NO_RISK_SIGNALS = "no_risk_signals"
    ATTENDANCE = "attendance"


@dataclass(frozen=True)
class Criterion:
    code: CriterionCode
    met: bool
    detail: str


@dataclass(frozen=True)
class StepDownEvaluation:
    eligible: bool
    criteria: tuple[Criterion, ...]

    def criterion(self, code: CriterionCode) -> Criterion:
        return next(c for c in self.criteria if c.code is code)

    @property
    def unmet(self) -> tuple[CriterionCode, ...]:
        return tuple(c.code for c in self.criteria if not c.met)


def evaluate_step_down(
    *,
    admitted_on: date,
    evaluated_on: date,
    baseline_phq9: int,
    measures: Sequence[Phq9Measure],
    risk_signals: Sequence[RiskSignal],
    attendance: AttendanceTally,
    policy: StepDownPolicy | None = None,
) -> StepDownEvaluation:
    """Each criterion met or not, with why. ``measures`` are the weekly PHQ-9s, oldest first."""
    policy = policy or StepDownPolicy()
    if evaluated_on < admitted_on:
        raise InvalidStepDownInput("evaluated_on", "is before the admission")
    _check_total(baseline_phq9, "baseline_phq9")
    _check_measures(measures, admitted_on, evaluated_on)
    _check_attendance(attendance)

    recent = tuple(measures[-policy.consecutive_measures:])
    period_start = recent[0].measured_on if recent else admitted_on
    criteria = (
        _time_in_program(admitted_on, evaluated_on, policy),
        _symptoms(baseline_phq9, recent, policy),
        _no_risk_signals(period_start, recent, risk_signals),
        _attendance(attendance, policy),
    )
    return StepDownEvaluation(all(c.met for c in criteria), criteria)


def _time_in_program(admitted_on: date, evaluated_on: date, policy: StepDownPolicy) -> Criterion:
    days = (evaluated_on - admitted_on).days
    weeks, extra = divmod(days, 7)
    return Criterion(
        CriterionCode.TIME_IN_PROGRAM,
        days >= 7 * policy.min_weeks_in_program,
        f"{weeks} weeks {extra} days in program (minimum {policy.min_weeks_in_program} weeks)",
    )


def _symptoms(
    baseline: int, recent: tuple[Phq9Measure, ...], policy: StepDownPolicy
) -> Criterion:
    needed = policy.consecutive_measures
    rule = (
        f"PHQ-9 below {policy.phq9_threshold} or at least {policy.response_drop:.0%} "
        f"below baseline {baseline}"
    )
    if len(recent) < needed:
        return Criterion(
            CriterionCode.SYMPTOM_IMPROVEMENT,
            False,
            f"{len(recent)} PHQ-9 measures, {needed} consecutive needed: {rule}",
        )
    failing = [m for m in recent if not _improved(baseline, m.total, policy)]
    totals = ", ".join(str(m.total) for m in recent)
    if failing:
        detail = f"last {needed} PHQ-9 ({totals}): {failing[0].measured_on} misses {rule}"
    else:
        detail = f"last {needed} PHQ-9 ({totals}) each meet {rule}"
    return Criterion(CriterionCode.SYMPTOM_IMPROVEMENT, not failing, detail)


def _improved(baseline: int, total: int, policy: StepDownPolicy) -> bool:
    if total < policy.phq9_threshold:
        return True
    # Exact arithmetic, so a drop of exactly the policy's share (10 → 5 at 0.5) counts.
    drop = Fraction(str(policy.response_drop))
    return baseline > 0 and Fraction(baseline - total, baseline) >= drop


def _no_risk_signals(
    start: date, recent: tuple[Phq9Measure, ...], signals: Sequence[RiskSignal]
) -> Criterion:
    dates = sorted(
        [s.occurred_on for s in signals if s.occurred_on >= start]
        + [m.measured_on for m in recent if m.item9 > 0]
    )
    if dates:
        detail = f"{len(dates)} risk signal(s) since {start}, first on {dates[0]}"
    else:
        detail = f"no risk signals since {start}"
    return Criterion(CriterionCode.NO_RISK_SIGNALS, not dates, detail)


def _attendance(tally: AttendanceTally, policy: StepDownPolicy) -> Criterion:
    minimum = Fraction(str(policy.min_attendance_rate))
    met = tally.scheduled > 0 and Fraction(tally.attended, tally.scheduled) >= minimum
    rate = f"{tally.attended / tally.scheduled:.0%}" if tally.scheduled else "no sessions"
    return Criterion(
        CriterionCode.ATTENDANCE,
        met,
        f"attended {tally.attended} of {tally.scheduled} scheduled ({rate}; "
        f"minimum {policy.min_attendance_rate:.0%})",
    )


# --- Step-up ---------------------------------------------------------------------------


class StepUpReasonCode(StrEnum):
    HIGH_SUICIDE_RISK = "high_suicide_risk"
    RISE_ABOVE_BASELINE = "rise_above_baseline"
    RISE_ABOVE_PREVIOUS = "rise_above_previous"
    SELF_HARM_THOUGHTS = "self_harm_thoughts"
    # Never indicated by the rules above; a clinician steps a patient up for them.
    CLINICAL_DETERIORATION = "clinical_deterioration"
    CLINICAL_JUDGEMENT = "clinical_judgement"


@dataclass(frozen=True)
class StepUpReason:
    code: StepUpReasonCode
    text: str


@dataclass(frozen=True)
class StepUpIndication:
    reasons: tuple[StepUpReason, ...]
    review_required: bool
    """Item 9 > 0 on the latest measure, awaiting the clinician's judgement."""

    @property
    def indicated(self) -> bool:
        return bool(self.reasons)


def step_up_indicated(
    *,
    baseline_phq9: int,
    measures: Sequence[Phq9Measure],
    cssrs_high: bool = False,
    clinician_judges_item9_risk: bool = False,
    marked_rise: int = MARKED_RISE,
    cssrs_moderate: bool = False,
) -> StepUpIndication:
    """Why a higher level of care is indicated now; no reasons: it is not. A moderate
    C-SSRS asks for the clinician's review (as item 9 does), a high one indicates it."""
    _check_total(baseline_phq9, "baseline_phq9")
    _check_measures(measures, None, None)
    if not _is_int(marked_rise) or marked_rise < 1:
        raise InvalidStepDownInput("marked_rise", "must be 1 or more")
    reasons: list[StepUpReason] = []
    if cssrs_high:
        reasons.append(StepUpReason(
            StepUpReasonCode.HIGH_SUICIDE_RISK,
            "C-SSRS high risk: refer to a higher level of care now",
        ))
    if not measures:
        return StepUpIndication(tuple(reasons), review_required=cssrs_moderate)
    latest = measures[-1]
    if latest.total - baseline_phq9 >= marked_rise:
        reasons.append(StepUpReason(
            StepUpReasonCode.RISE_ABOVE_BASELINE,
            f"PHQ-9 {latest.total} on {latest.measured_on} is "
            f"{latest.total - baseline_phq9} above baseline {baseline_phq9}",
        ))
    if len(measures) >= 2 and latest.total - measures[-2].total >= marked_rise:
        previous = measures[-2]
        reasons.append(StepUpReason(
            StepUpReasonCode.RISE_ABOVE_PREVIOUS,
            f"PHQ-9 {latest.total} on {latest.measured_on} is "
            f"{latest.total - previous.total} above {previous.total} on {previous.measured_on}",
        ))
    item9 = latest.item9 > 0
    if item9 and clinician_judges_item9_risk:
        reasons.append(StepUpReason(
            StepUpReasonCode.SELF_HARM_THOUGHTS,
            f"PHQ-9 item 9 is {latest.item9} on {latest.measured_on} and the clinician "
            "judges the risk calls for a higher level",
        ))
    awaiting_judgement = item9 and not clinician_judges_item9_risk
    return StepUpIndication(tuple(reasons),
                            review_required=awaiting_judgement or cssrs_moderate)


# --- Validation ------------------------------------------------------------------------


def _check_measures(
    measures: Sequence[Phq9Measure], after: date | None, until: date | None
) -> None:
    previous: date | None = None
    for index, measure in enumerate(measures):
        at = f"measures[{index}]"
        _check_total(measure.total, f"{at}.total")
        if not _is_int(measure.item9) or not 0 <= measure.item9 <= 3:
            raise InvalidStepDownInput(f"{at}.item9", "must be 0-3")
        if measure.item9 > measure.total:
            raise InvalidStepDownInput(f"{at}.item9", "cannot exceed the total")
        if previous is not None and measure.measured_on <= previous:
            raise InvalidStepDownInput(f"{at}.measured_on", "measures must be in date order")
        if after is not None and measure.measured_on < after:
            raise InvalidStepDownInput(f"{at}.measured_on", "is before the admission")
        if until is not None and measure.measured_on > until:
            raise InvalidStepDownInput(f"{at}.measured_on", "is after the evaluation")
        previous = measure.measured_on


def _check_attendance(tally: AttendanceTally) -> None:
    if not _is_int(tally.scheduled) or tally.scheduled < 0:
        raise InvalidStepDownInput("attendance.scheduled", "must be 0 or more")
    if not _is_int(tally.attended) or not 0 <= tally.attended <= tally.scheduled:
        raise InvalidStepDownInput("attendance.attended", "must be 0 up to the scheduled count")


def _check_total(total: int, field: str) -> None:
    if not _is_int(total) or not 0 <= total <= PHQ9_MAX_TOTAL:
        raise InvalidStepDownInput(field, "must be a PHQ-9 total, 0-27")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
