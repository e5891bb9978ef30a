"""A patient's progress from sessions' events: attendance, PHQ-9 trajectory, goals. Pure.

Only what happened up to an ``as_of`` date counts, so a clinician (or a test)
can ask how things stood on any day. Sessions are dated in the site's time zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from fractions import Fraction

from iopnet.catalog import Phq9Trend
from services.plans.domain.plan_drafting import (
    GAD7_CO_OCCURRING_AT,
    PHQ9_OBJECTIVE_BELOW,
    ProblemCode,
)
from services.plans.domain.plan_drafting import TreatmentPlan as PlanContents
from services.plans.domain.step_down import (
    MARKED_RISE,
    PHQ9_MAX_TOTAL,
    AttendanceTally,
    Phq9Measure,
    RiskSignal,
    RiskSignalKind,
    StepDownEvaluation,
    StepDownPolicy,
    StepUpIndication,
    evaluate_step_down,
    step_up_indicated,
)

RESPONSE_DROP = Fraction(1, 2)
REMISSION_BELOW = 5
#: Points of PHQ-9 change that matter for one patient, either way.
MEANINGFUL_CHANGE = MARKED_RISE


class SessionStatus(StrEnum):
    SCHEDULED = "scheduled"
    ATTENDED = "attended"
    MISSED_EXCUSED = "missed_excused"
    MISSED_UNEXCUSED = "missed_unexcused"
    CANCELLED = "cancelled"


class ObjectiveStatus(StrEnum):
    MET = "met"
    NOT_MET = "not_met"
    NOT_MEASURED = "not_measured"
    """No measure of it reaches plans; the clinician judges it."""


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    held_on: date
    status: SessionStatus
    waitlisted: bool = False
    late_minutes: int = 0


@dataclass(frozen=True)
class Measure:
    instrument: str
    measured_on: date
    total: int
    item9: int | None = None
    program_week: int = 1


@dataclass(frozen=True)
class SignalRecord:
    signal: str
    observed_on: date


@dataclass(frozen=True)
class ProgressRecord:
    """Everything plans has learned about a patient's course, in event order."""

    starts_on: date
    baseline_phq9: int
    baseline_gad7: int | None
    sessions: Sequence[SessionRecord]
    measures: Sequence[Measure]
    signals: Sequence[SignalRecord]


@dataclass(frozen=True)
class Attendance:
    scheduled_to_date: int
    attended: int
    missed_excused: int
    missed_unexcused: int
    late: int
    upcoming: int
    waitlisted: int

    @property
    def rate(self) -> float | None:
        return self.attended / self.scheduled_to_date if self.scheduled_to_date else None

    def tally(self) -> AttendanceTally:
        return AttendanceTally(attended=self.attended, scheduled=self.scheduled_to_date)


@dataclass(frozen=True)
class TrajectoryPoint:
    measured_on: date
    program_week: int
    total: int
    item9: int | None
    change_from_baseline: int
    response: bool
    remission: bool
    trend: Phq9Trend


@dataclass(frozen=True)
class ObjectiveProgress:
    objective_id: str
    problem_code: ProblemCode
    status: ObjectiveStatus
    detail: str


def attendance(sessions: Sequence[SessionRecord], as_of: date) -> Attendance:
    """Counts up to ``as_of``; a waitlisted or cancelled session was never the patient's."""
    held = [s for s in sessions if s.status is not SessionStatus.CANCELLED and not s.waitlisted]
    to_date = [s for s in held if s.held_on <= as_of]

    def count(status: SessionStatus) -> int:
        return sum(1 for s in to_date if s.status is status)

    return Attendance(
        scheduled_to_date=len(to_date),
        attended=count(SessionStatus.ATTENDED),
        missed_excused=count(SessionStatus.MISSED_EXCUSED),
        missed_unexcused=count(SessionStatus.MISSED_UNEXCUSED),
        late=sum(1 for s in to_date if s.status is SessionStatus.ATTENDED and s.late_minutes),
        upcoming=sum(1 for s in held if s.held_on > as_of
                     and s.status is SessionStatus.SCHEDULED),
        waitlisted=sum(1 for s in sessions if s.waitlisted
                       and s.status is SessionStatus.SCHEDULED and s.held_on > as_of),
    )


def phq9_series(record: ProgressRecord, as_of: date) -> list[Phq9Measure]:
    """The PHQ-9 totals from admission to ``as_of``, oldest first, one per day (the last)."""
    by_day: dict[date, Phq9Measure] = {}
    for m in record.measures:
        if (m.instrument == "phq9" and 0 <= m.total <= PHQ9_MAX_TOTAL
                and record.starts_on <= m.measured_on <= as_of):
            item9 = min(m.item9 or 0, m.total)
            by_day[m.measured_on] = Phq9Measure(m.measured_on, m.total, item9)
    return [by_day[day] for day in sorted(by_day)]


def responded(baseline: int, total: int) -> bool:
    return baseline > 0 and Fraction(baseline - total, baseline) >= RESPONSE_DROP


def trend(baseline: int, total: int) -> Phq9Trend:
    """The one definition of "improving" (published on ``ProgressJudged``): a PHQ-9 5
    points or more below the baseline, the change that matters for one patient (Löwe et
    al. 2004, Med Care 42:1194), or a response, at least 50% below it (Kroenke et al.
    2001), which a low baseline reaches with fewer points. Worsening: 5 points or more
    above the baseline (the marked rise). Stable otherwise."""
    if baseline - total >= MEANINGFUL_CHANGE or responded(baseline, total):
        return Phq9Trend.IMPROVING
    if total - baseline >= MEANINGFUL_CHANGE:
        return Phq9Trend.WORSENING
    return Phq9Trend.STABLE


def trajectory(record: ProgressRecord, as_of: date) -> list[TrajectoryPoint]:
    weeks = {m.measured_on: m.program_week for m in record.measures if m.instrument == "phq9"}
    return [
        TrajectoryPoint(
            measured_on=m.measured_on, program_week=weeks[m.measured_on], total=m.total,
            item9=m.item9, change_from_baseline=m.total - record.baseline_phq9,
            response=responded(record.baseline_phq9, m.total),
            remission=m.total < REMISSION_BELOW, trend=trend(record.baseline_phq9, m.total),
        )
        for m in phq9_series(record, as_of)
    ]


def objectives(contents: PlanContents, record: ProgressRecord,
               as_of: date) -> list[ObjectiveProgress]:
    """Each objective of the plan, met or not by the latest measure of it."""
    phq9 = phq9_series(record, as_of)
    gad7 = sorted((m for m in record.measures
                   if m.instrument == "gad7" and m.measured_on <= as_of),
                  key=lambda m: m.measured_on)
    found: list[ObjectiveProgress] = []
    for problem in contents.problems:
        for goal in problem.goals:
            for objective in goal.objectives:
                status, detail = _objective_status(problem.code, goal.id, record, phq9, gad7)
                found.append(ObjectiveProgress(objective.id, problem.code, status, detail))
    return found


def _objective_status(code: ProblemCode, goal_id: str, record: ProgressRecord,
                      phq9: list[Phq9Measure], gad7: list[Measure]
                      ) -> tuple[ObjectiveStatus, str]:
    if code is ProblemCode.DEPRESSION and goal_id.endswith(".G1"):
        if not phq9:
            return ObjectiveStatus.NOT_MET, "no PHQ-9 measured yet"
        latest = phq9[-1]
        met = latest.total < PHQ9_OBJECTIVE_BELOW or responded(record.baseline_phq9,
                                                               latest.total)
        return (ObjectiveStatus.MET if met else ObjectiveStatus.NOT_MET,
                f"latest PHQ-9 {latest.total} on {latest.measured_on} "
                f"(baseline {record.baseline_phq9})")
    if code is ProblemCode.ANXIETY:
        if not gad7:
            return ObjectiveStatus.NOT_MET, "no GAD-7 measured since admission"
        last = gad7[-1]
        met = last.total < GAD7_CO_OCCURRING_AT
        return (ObjectiveStatus.MET if met else ObjectiveStatus.NOT_MET,
                f"latest GAD-7 {last.total} on {last.measured_on}")
    return ObjectiveStatus.NOT_MEASURED, "the clinician records whether it is met"


def risk_signals(record: ProgressRecord, as_of: date) -> list[RiskSignal]:
    kinds = {"phq9_item9": RiskSignalKind.PHQ9_ITEM9, "cssrs_moderate": RiskSignalKind.CSSRS,
             "cssrs_high": RiskSignalKind.CSSRS}
    return [RiskSignal(s.observed_on, kinds.get(s.signal, RiskSignalKind.CLINICIAN_CONCERN))
            for s in record.signals if s.observed_on <= as_of]


def evaluate(record: ProgressRecord, policy: StepDownPolicy, as_of: date) -> StepDownEvaluation:
    """The site's step-down criteria as of a day (not before the admission)."""
    return evaluate_step_down(
        admitted_on=record.starts_on, evaluated_on=as_of, baseline_phq9=record.baseline_phq9,
        measures=phq9_series(record, as_of), risk_signals=risk_signals(record, as_of),
        attendance=attendance(record.sessions, as_of).tally(), policy=policy,
    )


def step_up(record: ProgressRecord, as_of: date) -> StepUpIndication:
    """Whether a higher level of care is indicated now: a high C-SSRS screen since the
    latest PHQ-9 (or since admission), or a marked PHQ-9 rise on the latest measure; a
    moderate C-SSRS since then asks for the clinician's review."""
    measures = phq9_series(record, as_of)
    since = measures[-1].measured_on if measures else record.starts_on

    def screened(signal: str) -> bool:
        return any(s.signal == signal and since <= s.observed_on <= as_of
                   for s in record.signals)

    return step_up_indicated(baseline_phq9=record.baseline_phq9, measures=measures,
                             cssrs_high=screened("cssrs_high"),
                             cssrs_moderate=screened("cssrs_moderate"))
