"""Plans' FHIR R4 resources: the care episode (EpisodeOfCare), the treatment plan
(CarePlan) and its goals (Goal). Pure: read models in, FHIR dicts out."""

from __future__ import annotations

from html import escape
from typing import Any

from iopnet.fhir import identifier, reference
from services.plans.domain import PlanStatus
from services.plans.domain.plan_drafting import Goal, TreatmentPlan

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
#: https://hl7.org/fhir/us/core/STU3.1.1/StructureDefinition-us-core-careplan.html
US_CORE_CAREPLAN = US_CORE + "us-core-careplan"
#: https://hl7.org/fhir/us/core/STU3.1.1/StructureDefinition-us-core-goal.html
US_CORE_GOAL = US_CORE + "us-core-goal"
CAREPLAN_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/careplan-category"


def episode_resource(episode: dict[str, Any], transition: dict[str, Any] | None
                     ) -> dict[str, Any]:
    """The IOP episode, from the admission to the step-down, step-up or discharge that
    closed it. Plans keeps one episode per patient: its id is the patient's."""
    patient_id = str(episode["patient_id"])
    closed = PlanStatus(episode["plan_status"]).closed
    period = {"start": episode["starts_on"].isoformat()}
    if closed and transition is not None:
        period["end"] = transition["effective_on"].isoformat()
    return {
        "resourceType": "EpisodeOfCare",
        "id": patient_id,
        "status": "finished" if closed else "active",
        "type": [{"text": f"Intensive outpatient program {episode['program_id']}"}],
        "patient": reference("Patient", patient_id),
        "managingOrganization": {"identifier": identifier("site", episode["site_id"])},
        "period": period,
        "careManager": {"identifier": identifier("clinician", episode["clinician_id"])},
    }


def goal_id(plan_id: str, goal: Goal) -> str:
    """A goal's id is its plan's with its own (``P1.G1``): unique across patients."""
    return f"{plan_id}.{goal.id}"


def careplan_resource(patient_id: str, plan_id: str, plan: TreatmentPlan, status: PlanStatus
                      ) -> dict[str, Any]:
    """The current revision of the treatment plan: its goals, and its interventions as
    activities (modality and sessions a week)."""
    goals = [goal for problem in plan.problems for goal in problem.goals]
    summary = "; ".join(f"{p.text}: {', '.join(g.text for g in p.goals)}"
                        for p in plan.problems)
    return {
        "resourceType": "CarePlan",
        "id": plan_id,
        "meta": {"profile": [US_CORE_CAREPLAN]},
        "text": {"status": "generated",
                 "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{escape(summary)}</div>'},
        "identifier": [identifier("plan-revision", f"{plan_id}/{plan.revision}")],
        "status": "completed" if status.closed else "active",
        "intent": "plan",
        "category": [{"coding": [{"system": CAREPLAN_CATEGORY, "code": "assess-plan"}]}],
        "subject": reference("Patient", patient_id),
        "period": {"start": plan.start_date.isoformat(), "end": plan.target_date.isoformat()},
        "author": {"identifier": identifier("clinician", plan.clinician_id)},
        "goal": [reference("Goal", goal_id(plan_id, g)) for g in goals],
        "activity": [{"detail": {
            "code": {"text": i.modality.value},
            "status": "stopped" if status.closed else "in-progress",
            "scheduledString": f"{i.sessions_per_week} a week until {i.target_date}",
            "performer": [{"identifier": identifier("clinician", i.clinician_id)}],
        }} for i in plan.interventions],
    }


def goal_resources(patient_id: str, plan_id: str, plan: TreatmentPlan, status: PlanStatus
                   ) -> list[dict[str, Any]]:
    """Each goal of the plan, with its objectives' target dates."""
    return [{
        "resourceType": "Goal",
        "id": goal_id(plan_id, goal),
        "meta": {"profile": [US_CORE_GOAL]},
        "lifecycleStatus": "completed" if status.closed else "active",
        "category": [{"text": problem.code.value}],
        "description": {"text": goal.text},
        "subject": reference("Patient", patient_id),
        "target": [{"measure": {"text": o.text}, "dueDate": o.target_date.isoformat()}
                   for o in goal.objectives],
    } for problem in plan.problems for goal in problem.goals]
