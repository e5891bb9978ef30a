"""Plans' ``/fhir/R4`` reads: EpisodeOfCare, CarePlan and Goal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from iopnet.auth import SiteDatabase, site_database
from iopnet.catalog import Scope
from iopnet.db import Connection
from iopnet.fhir import (
    FhirResponse,
    ResourceSupport,
    SearchParam,
    fhir_router,
    id_of,
    not_found,
    patient_of,
    searchset,
)
from services.plans import store
from services.plans.api.fhir import (
    US_CORE_CAREPLAN,
    US_CORE_GOAL,
    careplan_resource,
    episode_resource,
    goal_resources,
)
from services.plans.domain import PlanStatus
from services.plans.domain.plan_drafting import TreatmentPlan

Reader = Annotated[SiteDatabase, Depends(site_database(Scope.READ))]
PATIENT = SearchParam("patient", "reference", "Patient/{id} or {id}")
SERVED = (
    ResourceSupport("EpisodeOfCare", [PATIENT], (),
                    "The IOP episode, admission to step-down, step-up or discharge; "
                    "its id is the patient's"),
    ResourceSupport("CarePlan", [PATIENT], [US_CORE_CAREPLAN],
                    "The treatment plan's current revision"),
    ResourceSupport("Goal", [PATIENT], [US_CORE_GOAL], "The treatment plan's goals"),
)
router = fhir_router("plans", SERVED)


@router.get("/EpisodeOfCare/{episode_id}")
async def read_episode(episode_id: str, db: Reader) -> FhirResponse:
    found = await _episodes(db, id_of(episode_id))
    if not found:
        raise not_found("EpisodeOfCare", episode_id)
    return FhirResponse(found[0])


@router.get("/EpisodeOfCare")
async def search_episodes(request: Request, db: Reader, patient: str | None = None
                          ) -> FhirResponse:
    return searchset(request, await _episodes(db, patient_of(patient)))


@router.get("/CarePlan/{plan_id}")
async def read_careplan(plan_id: str, db: Reader) -> FhirResponse:
    plan = await _plan(db, plan_id=id_of(plan_id))
    if plan is None:
        raise not_found("CarePlan", plan_id)
    return FhirResponse(plan.careplan())


@router.get("/CarePlan")
async def search_careplans(request: Request, db: Reader, patient: str | None = None
                           ) -> FhirResponse:
    plan = await _plan(db, patient_id=patient_of(patient))
    return searchset(request, [plan.careplan()] if plan else [])


@router.get("/Goal/{goal_id}")
async def read_goal(goal_id: str, db: Reader) -> FhirResponse:
    plan_id, _, _ = goal_id.partition(".")
    plan = await _plan(db, plan_id=id_of(plan_id))
    found = [g for g in plan.goals() if g["id"] == goal_id] if plan else []
    if not found:
        raise not_found("Goal", goal_id)
    return FhirResponse(found[0])


@router.get("/Goal")
async def search_goals(request: Request, db: Reader, patient: str | None = None
                       ) -> FhirResponse:
    plan = await _plan(db, patient_id=patient_of(patient))
    return searchset(request, plan.goals() if plan else [])


@dataclass(frozen=True)
class _Plan:
    patient_id: str
    plan_id: str
    contents: TreatmentPlan
    status: PlanStatus

    def careplan(self) -> dict[str, object]:
        return careplan_resource(self.patient_id, self.plan_id, self.contents, self.status)

    def goals(self) -> list[dict[str, object]]:
        return goal_resources(self.patient_id, self.plan_id, self.contents, self.status)


async def _episodes(db: SiteDatabase, patient_id: str | None) -> list[dict[str, object]]:
    if patient_id is None:
        return []
    async with db.transaction() as conn:
        episode = await store.find_episode(conn, patient_id)
        transition = await store.find_transition(conn, patient_id) if episode else None
    return [episode_resource(episode, transition)] if episode else []


async def _plan(db: SiteDatabase, *, patient_id: str | None = None,
                plan_id: str | None = None) -> _Plan | None:
    async with db.transaction() as conn:
        if plan_id is not None:
            patient_id = await store.plan_patient(conn, plan_id)
        if patient_id is None:
            return None
        return await _plan_of(conn, patient_id)


async def _plan_of(conn: Connection, patient_id: str) -> _Plan | None:
    row = await store.find_plan(conn, patient_id)
    episode = await store.find_episode(conn, patient_id)
    if row is None or episode is None:
        return None
    return _Plan(patient_id, str(row["plan_id"]), await store.load_contents(conn, patient_id),
                 PlanStatus(episode["plan_status"]))
