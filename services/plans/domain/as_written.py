"""A plan's contents and the ``PlanWritten`` event that records them, each from the other."""

from __future__ import annotations

from services.plans.domain.events import (
    InterventionDetail,
    PlanWritten,
    WrittenGoal,
    WrittenObjective,
    WrittenProblem,
)
from services.plans.domain.plan_drafting import (
    Goal,
    Intervention,
    Modality,
    Objective,
    Problem,
    ProblemCode,
)
from services.plans.domain.plan_drafting import TreatmentPlan as PlanContents


def plan_contents(written: PlanWritten) -> PlanContents:
    """The plan a ``PlanWritten`` holds; without its words once the patient is forgotten."""
    return PlanContents(
        revision=written.revision, start_date=written.start_date,
        target_date=written.target_date, clinician_id=written.clinician_id,
        problems=tuple(
            Problem(p.problem_id, ProblemCode(p.code), p.text, tuple(
                Goal(g.goal_id, g.text, tuple(
                    Objective(o.objective_id, o.text, o.target_date) for o in g.objectives))
                for g in p.goals))
            for p in written.problems or ()),
        interventions=tuple(
            Intervention(i.intervention_id, Modality(i.modality.value), i.sessions_per_week,
                         i.clinician_id, i.target_date, tuple(i.addresses))
            for i in written.interventions),
        last_intervention_number=written.last_intervention_number,
    )


def written_problems(contents: PlanContents) -> list[WrittenProblem]:
    """The plan's problems, goals and objectives, with their words."""
    return [_written_problem(p) for p in contents.problems]


def interventions_in_detail(contents: PlanContents) -> list[InterventionDetail]:
    return [_detail(i) for i in contents.interventions]


def _written_problem(problem: Problem) -> WrittenProblem:
    return WrittenProblem(
        problem_id=problem.id, code=problem.code.value, text=problem.text,
        goals=[WrittenGoal(goal_id=g.id, text=g.text, objectives=[
            WrittenObjective(objective_id=o.id, text=o.text, target_date=o.target_date)
            for o in g.objectives]) for g in problem.goals],
    )


def _detail(intervention: Intervention) -> InterventionDetail:
    return InterventionDetail(
        intervention_id=intervention.id, modality=intervention.modality,
        sessions_per_week=intervention.sessions_per_week,
        clinician_id=intervention.clinician_id, target_date=intervention.target_date,
        addresses=list(intervention.addresses),
    )
