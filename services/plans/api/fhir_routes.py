"""Plans' ``/fhir/R4`` reads: EpisodeOfCare, CarePlan and Goal."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from iopnet.db import Connection
from iopnet.fhir import (
    PATIENT_SEARCH,
    FhirResponse,
    Reader,
    ResourceSupport,
    fhir_router,
    id_of,
    read,
    search,
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

Resource = dict[str, object]
SERVED = (
    ResourceSupport("EpisodeOfCare", [PATIENT_SEARCH], (),
                    "The IOP episode, admission to step-down, step-up or discharge; "
                    "its id is the patient's"),
    ResourceSupport("CarePlan", [PATIENT_SEARCH], [US_CORE_CAREPLAN],
                    "The treatment plan's current revision"),
    ResourceSupport("Goal", [PATIENT_SEARCH], [US_CORE_GOAL], "The treatment plan's goals"),
)
router = fhir_router("plans", SERVED)


@router.get("/EpisodeOfCare/{episode_id}")
async def read_episode(episode_id: str, db: Reader) -> FhirResponse:
    return await read(db, "EpisodeOfCare", episode_id, _episode)


@router.get("/EpisodeOfCare")
async def search_episodes(request: Request, db: Reader, patient: str | None = None
                          ) -> FhirResponse:
    async def find(conn: Connection, patient_id: str) -> list[Resource]:
        episode = await _episode(conn, patient_id)
        return [episode] if episode else []

    return await search(request, db, patient, find)


@router.get("/CarePlan/{plan_id}")
async def read_careplan(plan_id: str, db: Reader) -> FhirResponse:
    async def find(conn: Connection, known: str) -> Resource | None:
        plan = await _plan(conn, await store.plan_patient(conn, known))
        return plan.careplan() if plan else None

    return await read(db, "CarePlan", plan_id, find)


@router.get("/CarePlan")
async def search_careplans(request: Request, db: Reader, patient: str | None = None
                           ) -> FhirResponse:
    async def find(conn: Connection, patient_id: str) -> list[Resource]:
        plan = await _plan(conn, patient_id)
        return [plan.careplan()] if plan else []

    return await search(request, db, patient, find)


@router.get("/Goal/{goal_id}")
async def read_goal(goal_id: str, db: Reader) -> FhirResponse:
    """A goal's id is its plan's, a dot, and its own within the plan (``P1.G1``)."""
    async def find(conn: Connection, known: str) -> Resource | None:
        plan = await _plan(conn, await store.plan_patient(conn, known.partition(".")[0]))
        found = [g for g in plan.goals() if g["id"] == known] if plan else []
        return found[0] if found else None

    def parse(value: str) -> str | None:
        plan_id, dot, own = value.partition(".")
        return value if dot and own and id_of(plan_id) == plan_id else None

    return await read(db, "Goal", goal_id, find, parse)


@router.get("/Goal")
async def search_goals(request: Request, db: Reader, patient: str | None = None
                       ) -> FhirResponse:
    async def find(conn: Connection, patient_id: str) -> list[Resource]:
        plan = await _plan(conn, patient_id)
        return plan.goals() if plan else []

    return await search(request, db, patient, find)


@dataclass(frozen=True)
class _Plan:
    patient_id: str
    plan_id: str
    contents: TreatmentPlan
    status: PlanStatus

    def careplan(self) -> Resource:
        return careplan_resource(self.patient_id, self.plan_id, self.contents, self.status)

    def goals(self) -> list[Resource]:
        return goal_resources(self.patient_id, self.plan_id, self.contents, self.status)


async def _episode(conn: Connection, patient_id: str) -> Resource | None:
    episode = await store.find_episode(conn, patient_id)
    if episode is None:
        return None
    return episode_resource(episode, await store.find_transition(conn, patient_id))


async def _plan(conn: Connection, patient_id: str | None) -> _Plan | None:
    """The patient's plan as the caller's site sees it."""
    if patient_id is None:
        return None
    row = await store.find_plan(conn, patient_id)
    episode = await store.find_episode(conn, patient_id)
    if row is None or episode is None:
        return None
    return _Plan(patient_id, str(row["plan_id"]), await store.load_contents(conn, patient_id),
                 PlanStatus(episode["plan_status"]))
