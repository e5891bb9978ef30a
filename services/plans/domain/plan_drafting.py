"""The first draft of a personalized treatment plan, and its revisions. Pure; no I/O.

A plan is problems → goals → measurable objectives, and interventions that
address objectives (as FHIR CarePlan activities reference Goals). Ids are stable
so revisions and events can point at them: problems "P1", goals "P1.G1",
objectives "P1.G1.O1", interventions "I1", "I2", ... An intervention id is never
reused, even after the intervention is removed.

What the findings add to the draft:

- Depression, always (P1): group therapy on each program day, CBT, individual
  counseling, psychoeducation and mindfulness, weekly; objective: PHQ-9 below 10
  or at least 50% below baseline by the end of the program.
- C-SSRS low or moderate risk: a safety goal under P1 (P1.G2) whose objective is a
  written safety plan on the first program day, reviewed weekly in individual
  counseling. High risk is not an IOP admission, so it cannot be drafted.
- Co-occurring anxiety (GAD-7 ≥ 10): an anxiety problem with DBT skills and skill-building.
- Positive AUDIT-C: an alcohol-use problem with relapse prevention.
- Never family therapy: consent to disclose is not a clinical indication. A live
  consent covering family participation makes plans suggest it to the clinician;
  ``involving_family`` is the change accepting that makes, ``withdrawing_family`` the
  one the end of the last such consent makes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum

from iopnet.catalog import Modality as Modality
from iopnet.catalog import RiskLevel as RiskLevel

# The codes travel on events, so they live in the catalog; re-exported here.
from iopnet.fields import InvalidField

PHQ9_OBJECTIVE_BELOW = 10
GAD7_CO_OCCURRING_AT = 10
DEPRESSION_OBJECTIVE = "P1.G1.O1"
FAMILY_THERAPY_PER_WEEK = 1


class ProblemCode(StrEnum):
    DEPRESSION = "depression"
    ANXIETY = "anxiety"
    ALCOHOL_USE = "alcohol_use"


class InvalidPlanInput(InvalidField):
    """Findings or changes a plan cannot be drafted or revised from; ``field`` names the input."""



@dataclass(frozen=True)
class Findings:
    """What the admission established, as the plans service receives it."""

    baseline_phq9: int
    risk: RiskLevel
    auditc_positive: bool
    days_per_week: int
    planned_weeks: int
    start_date: date
    clinician_id: str
    gad7: int | None = None


@dataclass(frozen=True)
class Objective:
    id: str
    text: str
    target_date: date


@dataclass(frozen=True)
class Goal:
    id: str
    text: str
    objectives: tuple[Objective, ...]


@dataclass(frozen=True)
class Problem:
    id: str
    code: ProblemCode
    text: str
    goals: tuple[Goal, ...]


@dataclass(frozen=True)
class Intervention:
    id: str
    modality: Modality
    sessions_per_week: int
    clinician_id: str
    target_date: date
    addresses: tuple[str, ...]
    """The ids of the objectives this intervention works toward."""


@dataclass(frozen=True)
class TreatmentPlan:
    revision: int
    start_date: date
    target_date: date
    clinician_id: str
    problems: tuple[Problem, ...]
    interventions: tuple[Intervention, ...]
    last_intervention_number: int
    """The highest intervention number ever issued, so removed ids are never reused."""

    def objective_ids(self) -> tuple[str, ...]:
        return tuple(
            objective.id
            for problem in self.problems
            for goal in problem.goals
            for objective in goal.objectives
        )

    def intervention(self, intervention_id: str) -> Intervention | None:
        return next((i for i in self.interventions if i.id == intervention_id), None)

    def modalities(self) -> frozenset[Modality]:
        return frozenset(i.modality for i in self.interventions)


def draft_plan(findings: Findings) -> TreatmentPlan:
    _check(findings)
    end = findings.start_date + timedelta(weeks=findings.planned_weeks)
    problems: list[Problem] = []
    planned: list[tuple[Modality, int, tuple[str, ...]]] = []

    def add(modality: Modality, per_week: int, *objective_ids: str) -> None:
        planned.append((modality, per_week, objective_ids))

    depression_goals = [Goal("P1.G1", "Reduce depressive symptoms", (Objective(
        "P1.G1.O1", _depression_objective(findings.baseline_phq9, end), end,
    ),))]
    if findings.risk in (RiskLevel.LOW, RiskLevel.MODERATE):
        depression_goals.append(Goal("P1.G2", "Stay safe", (Objective(
            "P1.G2.O1",
            "Written safety plan completed with the clinician on the first program day "
            "and reviewed weekly",
            findings.start_date,
        ),)))
    problems.append(Problem(
        "P1", ProblemCode.DEPRESSION, "Depression", tuple(depression_goals)
    ))
    add(Modality.GROUP_THERAPY, findings.days_per_week, "P1.G1.O1")
    add(Modality.CBT, 1, "P1.G1.O1")
    counseling_addresses = ["P1.G1.O1"]
    if len(depression_goals) > 1:
        counseling_addresses.append("P1.G2.O1")
    add(Modality.INDIVIDUAL_COUNSELING, 1, *counseling_addresses)
    add(Modality.PSYCHOEDUCATION, 1, "P1.G1.O1")
    add(Modality.MINDFULNESS, 1, "P1.G1.O1")

    if findings.gad7 is not None and findings.gad7 >= GAD7_CO_OCCURRING_AT:
        pid = f"P{len(problems) + 1}"
        problems.append(Problem(pid, ProblemCode.ANXIETY, "Co-occurring anxiety", (Goal(
            f"{pid}.G1", "Reduce anxiety and build coping skills", (Objective(
                f"{pid}.G1.O1",
                f"GAD-7 below {GAD7_CO_OCCURRING_AT} (baseline {findings.gad7}) by {end}",
                end,
            ),),
        ),)))
        add(Modality.DBT_SKILLS, 1, f"{pid}.G1.O1")
        add(Modality.SKILL_BUILDING, 1, f"{pid}.G1.O1")

    if findings.auditc_positive:
        pid = f"P{len(problems) + 1}"
        problems.append(Problem(pid, ProblemCode.ALCOHOL_USE, "Co-occurring alcohol use", (Goal(
            f"{pid}.G1", "Reduce alcohol use and prevent relapse", (Objective(
                f"{pid}.G1.O1",
                f"AUDIT-C below the positive cut-off and a written relapse-prevention "
                f"plan by {end}",
                end,
            ),),
        ),)))
        add(Modality.RELAPSE_PREVENTION, 1, f"{pid}.G1.O1")

    interventions = tuple(
        Intervention(f"I{n}", modality, per_week, findings.clinician_id, end, addresses)
        for n, (modality, per_week, addresses) in enumerate(planned, start=1)
    )
    return TreatmentPlan(
        revision=1,
        start_date=findings.start_date,
        target_date=end,
        clinician_id=findings.clinician_id,
        problems=tuple(problems),
        interventions=interventions,
        last_intervention_number=len(interventions),
    )


def _depression_objective(baseline: int, by: date) -> str:
    # Integer PHQ-9 totals: at least 50% below baseline means at most floor(baseline / 2).
    return (
        f"PHQ-9 below {PHQ9_OBJECTIVE_BELOW}, or at least 50% below the baseline of "
        f"{baseline} (at most {baseline // 2}), by {by}"
    )


def _check(findings: Findings) -> None:
    if not _is_int(findings.baseline_phq9) or not 0 <= findings.baseline_phq9 <= 27:
        raise InvalidPlanInput("baseline_phq9", "must be a PHQ-9 total, 0-27")
    if findings.gad7 is not None and (not _is_int(findings.gad7) or not 0 <= findings.gad7 <= 21):
        raise InvalidPlanInput("gad7", "must be a GAD-7 total, 0-21")
    try:
        risk = RiskLevel(findings.risk)
    except ValueError:
        raise InvalidPlanInput("risk", f"unknown risk level {findings.risk!r}") from None
    if risk is RiskLevel.HIGH:
        raise InvalidPlanInput("risk", "high risk is not an IOP admission: no IOP plan")
    if not _is_int(findings.days_per_week) or not 1 <= findings.days_per_week <= 7:
        raise InvalidPlanInput("days_per_week", "must be 1-7")
    if not _is_int(findings.planned_weeks) or findings.planned_weeks < 1:
        raise InvalidPlanInput("planned_weeks", "must be at least 1")
    if not findings.clinician_id.strip():
        raise InvalidPlanInput("clinician_id", "the responsible clinician is required")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- Revisions -------------------------------------------------------------------------


@dataclass(frozen=True)
class AddIntervention:
    modality: Modality
    sessions_per_week: int
    addresses: tuple[str, ...]
    clinician_id: str | None
    """None: the plan's responsible clinician."""
    target_date: date | None = None
    """None: the plan's target date."""


@dataclass(frozen=True)
class RemoveIntervention:
    intervention_id: str


@dataclass(frozen=True)
class ChangeFrequency:
    intervention_id: str
    sessions_per_week: int


PlanChange = AddIntervention | RemoveIntervention | ChangeFrequency


@dataclass(frozen=True)
class InterventionAdded:
    intervention: Intervention


@dataclass(frozen=True)
class InterventionRemoved:
    intervention: Intervention


@dataclass(frozen=True)
class FrequencyChanged:
    intervention_id: str
    modality: Modality
    before: int
    after: int


AppliedChange = InterventionAdded | InterventionRemoved | FrequencyChanged


@dataclass(frozen=True)
class PlanRevision:
    """A revised plan (its ``revision`` one higher), why, and what changed."""

    plan: TreatmentPlan
    reason: str
    changes: tuple[AppliedChange, ...]


def involving_family(plan: TreatmentPlan) -> list[PlanChange]:
    """Weekly family therapy toward the depression objective, unless the plan has it."""
    if Modality.FAMILY_THERAPY in plan.modalities():
        return []
    return [AddIntervention(Modality.FAMILY_THERAPY, FAMILY_THERAPY_PER_WEEK,
                            (DEPRESSION_OBJECTIVE,), plan.clinician_id)]


def withdrawing_family(plan: TreatmentPlan) -> list[PlanChange]:
    """Every family therapy intervention, whoever planned it: none is possible without consent."""
    return [RemoveIntervention(i.id) for i in plan.interventions
            if i.modality is Modality.FAMILY_THERAPY]


def revise(plan: TreatmentPlan, changes: Sequence[PlanChange], reason: str) -> PlanRevision:
    """Apply changes in order; all or nothing. Raises InvalidPlanInput naming the change."""
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidPlanInput("reason", "a revision needs a reason")
    if not changes:
        raise InvalidPlanInput("changes", "a revision needs at least one change")
    objectives = set(plan.objective_ids())
    current = plan
    applied: list[AppliedChange] = []
    for index, change in enumerate(changes):
        at = f"changes[{index}]"
        match change:
            case AddIntervention():
                current, done = _add(current, change, objectives, at)
            case RemoveIntervention():
                current, done = _remove(current, change, at)
            case ChangeFrequency():
                current, done = _change_frequency(current, change, at)
            case _:
                raise InvalidPlanInput(at, f"unknown change {change!r}")
        applied.append(done)
    revised = replace(current, revision=plan.revision + 1)
    return PlanRevision(revised, reason.strip(), tuple(applied))


def _add(
    plan: TreatmentPlan, change: AddIntervention, objectives: set[str], at: str
) -> tuple[TreatmentPlan, AppliedChange]:
    _check_frequency(change.sessions_per_week, f"{at}.sessions_per_week")
    if not change.addresses:
        raise InvalidPlanInput(f"{at}.addresses", "an intervention addresses an objective")
    unknown = [o for o in change.addresses if o not in objectives]
    if unknown:
        raise InvalidPlanInput(f"{at}.addresses", f"no objective {unknown[0]} in the plan")
    clinician_id = plan.clinician_id if change.clinician_id is None else change.clinician_id
    if not clinician_id.strip():
        raise InvalidPlanInput(f"{at}.clinician_id", "the responsible clinician is required")
    try:
        modality = Modality(change.modality)
    except ValueError:
        raise InvalidPlanInput(f"{at}.modality", f"unknown modality {change.modality!r}") from None
    number = plan.last_intervention_number + 1
    added = Intervention(
        id=f"I{number}",
        modality=modality,
        sessions_per_week=change.sessions_per_week,
        clinician_id=clinician_id,
        target_date=change.target_date or plan.target_date,
        addresses=tuple(change.addresses),
    )
    revised = replace(
        plan, interventions=(*plan.interventions, added), last_intervention_number=number
    )
    return revised, InterventionAdded(added)


def _remove(
    plan: TreatmentPlan, change: RemoveIntervention, at: str
) -> tuple[TreatmentPlan, AppliedChange]:
    removed = _existing(plan, change.intervention_id, at)
    kept = tuple(i for i in plan.interventions if i.id != removed.id)
    return replace(plan, interventions=kept), InterventionRemoved(removed)


def _change_frequency(
    plan: TreatmentPlan, change: ChangeFrequency, at: str
) -> tuple[TreatmentPlan, AppliedChange]:
    before = _existing(plan, change.intervention_id, at)
    _check_frequency(change.sessions_per_week, f"{at}.sessions_per_week")
    if change.sessions_per_week == before.sessions_per_week:
        raise InvalidPlanInput(
            f"{at}.sessions_per_week", f"{before.id} is already {before.sessions_per_week}/week"
        )
    after = replace(before, sessions_per_week=change.sessions_per_week)
    interventions = tuple(after if i.id == before.id else i for i in plan.interventions)
    return replace(plan, interventions=interventions), FrequencyChanged(
        before.id, before.modality, before.sessions_per_week, after.sessions_per_week
    )


def _existing(plan: TreatmentPlan, intervention_id: str, at: str) -> Intervention:
    found = plan.intervention(intervention_id)
    if found is None:
        raise InvalidPlanInput(f"{at}.intervention_id", f"no intervention {intervention_id}")
    return found


def _check_frequency(sessions_per_week: int, field: str) -> None:
    if not _is_int(sessions_per_week) or not 1 <= sessions_per_week <= 7:
        raise InvalidPlanInput(field, "sessions per week must be 1-7")
