"""What plans' routes share: access, reading a patient's episode, views."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import Depends

from iopnet.auth import SiteDatabase, site_database
from iopnet.catalog import Scope
from iopnet.db import Connection
from iopnet.problems import not_found
from services.plans import store
from services.plans.api.models import TransitionView
from services.plans.commands import Transition
from services.plans.domain import PlanStatus
from services.plans.domain.plan_drafting import TreatmentPlan as PlanContents
from services.plans.domain.step_down import StepDownPolicy, StepUpIndication

Reader = Annotated[SiteDatabase, Depends(site_database(Scope.READ))]
Writer = Annotated[SiteDatabase, Depends(site_database(Scope.PLANS_WRITE))]


async def episode_row(conn: Connection, patient_id: uuid.UUID) -> dict[str, Any]:
    row = await store.find_episode(conn, str(patient_id))
    if row is None:
        raise not_found("patient", str(patient_id))
    return row


def etag(revision: int) -> str:
    return f'"{revision}"'


def plan_view(patient_id: str, plan_id: str, status: PlanStatus,
              contents: PlanContents) -> dict[str, Any]:
    return {
        "patient_id": patient_id, "plan_id": plan_id, "revision": contents.revision,
        "status": status.value, "start_date": contents.start_date.isoformat(),
        "target_date": contents.target_date.isoformat(), "clinician_id": contents.clinician_id,
        "problems": [
            {"problem_id": p.id, "code": p.code.value, "text": p.text, "goals": [
                {"goal_id": g.id, "text": g.text, "objectives": [
                    {"objective_id": o.id, "text": o.text,
                     "target_date": o.target_date.isoformat()}
                    for o in g.objectives
                ]}
                for g in p.goals
            ]}
            for p in contents.problems
        ],
        "interventions": [
            {"intervention_id": i.id, "modality": i.modality.value,
             "sessions_per_week": i.sessions_per_week, "clinician_id": i.clinician_id,
             "target_date": i.target_date.isoformat(), "addresses": list(i.addresses)}
            for i in contents.interventions
        ],
    }


def step_up_view(indication: StepUpIndication) -> dict[str, Any]:
    return {"indicated": indication.indicated, "review_required": indication.review_required,
            "reasons": [{"code": r.code.value, "text": r.text} for r in indication.reasons]}


def policy_view(policy: StepDownPolicy) -> dict[str, Any]:
    return asdict(policy)


def transition_view(transition: Transition) -> dict[str, Any]:
    view = TransitionView.model_validate(transition.row).model_dump(mode="json")
    return {"patient_id": transition.plan.id,
            "plan_status": PlanStatus(transition.plan.status).value, **view}
