"""Routes for the care episode, the treatment plan and its revisions (ETag / If-Match)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse

from iopnet.db import Connection
from iopnet.idempotency import Answer, IdempotencyKey, execute
from iopnet.problems import Problem, not_found
from services.plans import commands, store
from services.plans.api.common import (
    Reader,
    Writer,
    episode_row,
    etag,
    plan_view,
)
from services.plans.api.models import (
    AddIntervention,
    CareEpisodeView,
    ChangeFrequency,
    PlanView,
    RevisionRequest,
    RevisionView,
)
from services.plans.domain import (
    PlanClosed,
    PlanRuleBroken,
    PlanStatus,
    StaleRevision,
)
from services.plans.domain import plan_drafting as drafting
from services.plans.domain.plan_drafting import Modality

router = APIRouter(prefix="/v1", tags=["plans"])
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=200)]
IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match", max_length=200)]


@router.get("/patients/{patient_id}", response_model=CareEpisodeView)
async def read_care_episode(patient_id: uuid.UUID, db: Reader) -> dict[str, Any]:
    """The patient's IOP episode as plans knows it, with where the plan stands."""
    async with db.transaction() as conn:
        episode = await episode_row(conn, patient_id)
        plan = await store.find_plan(conn, str(patient_id))
        transition = await store.find_transition(conn, str(patient_id))
    return {**episode, "revision": plan["revision"] if plan else None,
            "transition": transition}


@router.get("/patients/{patient_id}/plan", response_model=PlanView,
            responses={200: {"headers": {"ETag": {"description": 'The revision, e.g. "2"'}}},
                       304: {"description": "If-None-Match names the current revision"}})
async def read_plan(patient_id: uuid.UUID, db: Reader,
                    if_none_match: IfNoneMatch = None) -> Response:
    """The current revision of the plan; send its ETag as If-Match to revise it."""
    async with db.transaction() as conn:
        episode = await episode_row(conn, patient_id)
        plan = await store.find_plan(conn, str(patient_id))
        if plan is None:
            raise not_found("plan", str(patient_id))
        contents = await store.load_contents(conn, str(patient_id))
    tag = etag(contents.revision)
    if if_none_match is not None and tag in _tags(if_none_match):
        return Response(status_code=304, headers={"ETag": tag})
    view = plan_view(str(patient_id), str(plan["plan_id"]), PlanStatus(episode["plan_status"]),
                     contents)
    return JSONResponse(PlanView.model_validate(view).model_dump(mode="json"),
                        headers={"ETag": tag})


@router.post("/patients/{patient_id}/plan/revisions", status_code=201,
             responses={201: {"model": PlanView}, 412: {"description": "Stale If-Match"},
                        428: {"description": "If-Match missing"}})
async def revise_plan(patient_id: uuid.UUID, body: RevisionRequest, request: Request,
                      db: Writer, if_match: IfMatch = None,
                      idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """A new revision of the plan, over the revision named by If-Match (never merged)."""
    order = commands.PlanRevisionOrder(
        str(patient_id), _expected_revisions(if_match), [_domain_change(c) for c in body.changes],
        body.reason, body.note, db.principal.key_id)

    async def revise(conn: Connection) -> Answer:
        try:
            plan, revised = await commands.revise_plan(
                commands.unit_of_work(conn, db.cause, db.events), order)
        except StaleRevision as stale:
            raise Problem(412, "stale-revision", "The plan has changed since you read it",
                          f"{stale}: read it again and send its ETag as If-Match",
                          headers={"ETag": etag(stale.current)},
                          current_revision=stale.current) from stale
        return Answer(201, plan_view(plan.id, plan.plan_id, plan.status, revised.plan),
                      headers={"ETag": etag(revised.plan.revision)})

    return await execute(request, db, idempotency_key, body, revise,
                         refusals=(PlanClosed, PlanRuleBroken))


@router.get("/patients/{patient_id}/plan/revisions", response_model=list[RevisionView])
async def read_revisions(patient_id: uuid.UUID, db: Reader) -> list[dict[str, Any]]:
    """Every revision, the draft first: what changed, why, by which key, with the note."""
    async with db.transaction() as conn:
        await episode_row(conn, patient_id)
        revisions = await store.list_revisions(conn, str(patient_id))
    return [
        {"revision": r["revision"], "at": r["recorded_at"],
         "kind": "drafted" if r["revision"] == 1 else "revised", "reason": r["reason"],
         "note": r["note"], "by": r["recorded_by"], "change_codes": r["change_codes"],
         "changes": r["changes"], "interventions": r["interventions"]}
        for r in revisions
    ]


def _tags(header: str) -> set[str]:
    return {tag.strip() for tag in header.split(",") if tag.strip()}


def _expected_revisions(if_match: str | None) -> frozenset[int]:
    """The revisions If-Match names; strong tags only, as RFC 9110 compares them."""
    if if_match is None:
        raise Problem(428, "precondition-required", "If-Match is required",
                      "send the ETag of the plan you read (GET .../plan) as If-Match",
                      errors=[{"pointer": "header:If-Match"}])
    tags = _tags(if_match)
    if "*" in tags:
        raise Problem(428, "precondition-required", "If-Match must name a revision",
                      "'*' would revise whatever the plan has become; send the ETag you read",
                      errors=[{"pointer": "header:If-Match"}])
    revisions = {int(t[1:-1]) for t in tags
                 if len(t) > 2 and t[0] == t[-1] == '"' and t[1:-1].isdigit()}
    return frozenset(revisions or {0})  # a tag that names no revision matches none: 412


def _domain_change(change: Any) -> drafting.PlanChange:
    if isinstance(change, AddIntervention):
        return drafting.AddIntervention(
            modality=Modality(change.modality.value), sessions_per_week=change.sessions_per_week,
            addresses=tuple(change.addresses), clinician_id=change.clinician_id or None,
            target_date=change.target_date,
        )
    if isinstance(change, ChangeFrequency):
        return drafting.ChangeFrequency(change.intervention_id, change.sessions_per_week)
    return drafting.RemoveIntervention(change.intervention_id)
