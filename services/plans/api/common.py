"""What plans' routes share: access, loading a patient's episode and plan, views."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from fastapi import Depends

from iopnet.auth import SiteDatabase, site_database
from iopnet.auth.registry import site_policies
from iopnet.catalog import Scope
from iopnet.db import Connection
from iopnet.problems import Problem, not_found
from services.plans import store
from services.plans.domain import CareEpisode, PlanStatus, TreatmentPlan
from services.plans.domain.plan_drafting import TreatmentPlan as PlanContents
from services.plans.domain.step_down import StepDownPolicy, StepUpIndication

Reader = Annotated[SiteDatabase, Depends(site_database(Scope.READ))]
Writer = Annotated[SiteDatabase, Depends(site_database(Scope.PLANS_WRITE))]


async def episode_row(conn: Connection, patient_id: uuid.UUID) -> dict[str, Any]:
    row = await store.find_episode(conn, str(patient_id))
    if row is None:
        raise not_found("patient", str(patient_id))
    return row


async def episode(conn: Connection, patient_id: uuid.UUID) -> CareEpisode:
    return store.episode_of(await episode_row(conn, patient_id))


async def drafted_plan(plans: store.TreatmentPlans, patient_id: uuid.UUID) -> TreatmentPlan:
    plan = await plans.get(str(patient_id))
    if plan is None:
        raise not_found("patient", str(patient_id))
    if plan.contents is None:
        raise not_found("plan", str(patient_id))
    return plan


def check_as_of(as_of: date, ep: CareEpisode, pointer: str) -> None:
    if as_of < ep.starts_on:
        raise Problem(422, "validation", "The date is before the admission",
                      f"as_of {as_of} is before the program started on {ep.starts_on}",
                      errors=[{"pointer": pointer}])


async def step_down_policy(conn: Connection, site_id: str) -> StepDownPolicy:
    policies = await site_policies(conn, site_id)
    return StepDownPolicy(
        min_weeks_in_program=policies.step_down_min_weeks,
        phq9_threshold=policies.step_down_phq9_below,
        response_drop=policies.step_down_response_drop,
        consecutive_measures=policies.step_down_consecutive_measures,
        min_attendance_rate=policies.step_down_min_attendance,
    )


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
