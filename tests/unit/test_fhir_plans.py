"""Plans' FHIR mapping: EpisodeOfCare, CarePlan and Goal, each validated by
fhir.resources' R4B models."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.episodeofcare import EpisodeOfCare
from fhir.resources.R4B.goal import Goal

from iopnet.catalog import RiskLevel
from services.plans.api.fhir import careplan_resource, episode_resource, goal_resources
from services.plans.domain import PlanStatus
from services.plans.domain.plan_drafting import Findings, draft_plan

pytestmark = pytest.mark.unit

PATIENT_ID = "0b6f3c1e-6a55-4a43-9c55-0d2f1c0e7a10"
PLAN_ID = "6f0e1d2c-7777-4a43-9c55-0d2f1c0e7a10"
START = date(2027, 1, 4)
PLAN = draft_plan(Findings(baseline_phq9=18, risk=RiskLevel.NONE, auditc_positive=True,
                           days_per_week=4, planned_weeks=10, start_date=START,
                           clinician_id="clin-7", gad7=12))


def episode(status: str) -> dict[str, Any]:
    return {"patient_id": PATIENT_ID, "site_id": "site-north", "program_id": "iop-adult",
            "clinician_id": "clin-7", "starts_on": START, "plan_status": status}


def test_an_open_episode_is_active_from_the_admission() -> None:
    resource = EpisodeOfCare.model_validate(episode_resource(episode("active"), None))
    assert resource.status == "active" and resource.period.end is None
    assert resource.period.start == START
    assert resource.patient.reference == f"Patient/{PATIENT_ID}"


def test_a_stepped_down_episode_is_finished_when_the_step_down_took_effect() -> None:
    stepped = {"kind": "stepped_down", "effective_on": date(2027, 3, 1)}
    resource = EpisodeOfCare.model_validate(episode_resource(episode("stepped_down"), stepped))
    assert resource.status == "finished" and resource.period.end == date(2027, 3, 1)


def test_the_plan_is_a_careplan_pointing_at_its_goals() -> None:
    careplan = CarePlan.model_validate(
        careplan_resource(PATIENT_ID, PLAN_ID, PLAN, PlanStatus.ACTIVE))
    assert careplan.status == "active" and careplan.intent == "plan"
    assert careplan.category[0].coding[0].code == "assess-plan"
    goals = [Goal.model_validate(g) for g in
             goal_resources(PATIENT_ID, PLAN_ID, PLAN, PlanStatus.ACTIVE)]
    assert [r.reference for r in careplan.goal] == [f"Goal/{g.id}" for g in goals]
    assert {g.category[0].text for g in goals} >= {"depression", "anxiety", "alcohol_use"}
    assert all(g.target and g.target[0].dueDate for g in goals)
    assert len(careplan.activity) == len(PLAN.interventions)


def test_a_closed_plan_and_its_goals_are_completed() -> None:
    careplan = CarePlan.model_validate(
        careplan_resource(PATIENT_ID, PLAN_ID, PLAN, PlanStatus.DISCHARGED))
    assert careplan.status == "completed"
    assert {g["lifecycleStatus"] for g in
            goal_resources(PATIENT_ID, PLAN_ID, PLAN, PlanStatus.DISCHARGED)} == {"completed"}
