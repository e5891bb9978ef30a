"""Routes for what plans suggests and the clinician decides: family therapy.

Consent to disclose is not an indication: a live consent covering family
participation makes plans *suggest* family therapy; the clinician accepts it (a
revision, with their reason) or leaves it. The end of the last such consent lapses
the suggestion and takes family therapy out at once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from iopnet.db import Connection
from iopnet.fields import Identifier, Strict
from iopnet.idempotency import Answer, IdempotencyKey, execute
from services.plans import commands, store
from services.plans.api.common import Reader, Writer, episode_row, etag, plan_view
from services.plans.api.models import PlanView
from services.plans.domain import ClinicalDecision, PlanRuleBroken

router = APIRouter(prefix="/v1", tags=["plans"])


class SuggestionView(BaseModel):
    suggestion_id: str
    kind: str = "family_therapy"
    consent_id: str
    suggested_at: datetime
    status: str = Field(description="open | accepted | lapsed (the consent ended first)")
    closed_at: datetime | None
    revision: int | None = Field(description="The revision that accepted it")
    clinician_id: str | None
    reason: str | None
    recorded_by: str | None


class AcceptRequest(Strict):
    clinician_id: Identifier
    reason: str = Field(min_length=10, max_length=2000,
                        description="Why family therapy is indicated. Kept in plans only.")


@router.get("/patients/{patient_id}/plan/suggestions", response_model=list[SuggestionView])
async def read_suggestions(patient_id: uuid.UUID, db: Reader) -> list[dict[str, Any]]:
    """What plans offered the clinician (family therapy), and how each was decided."""
    async with db.transaction() as conn:
        await episode_row(conn, patient_id)
        return await store.list_family_therapy_suggestions(conn, str(patient_id))


@router.post("/patients/{patient_id}/plan/suggestions/{suggestion_id}/accept",
             status_code=201, responses={201: {"model": PlanView},
                                         409: {"description": "Not open, or no live consent "
                                               "covers family participation"}})
async def accept_suggestion(patient_id: uuid.UUID, suggestion_id: uuid.UUID,
                            body: AcceptRequest, request: Request, db: Writer,
                            idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """The clinician accepts family therapy: a revision recording them and their reason."""
    decision = ClinicalDecision(body.clinician_id, body.reason, db.principal.key_id)

    async def accept(conn: Connection) -> Answer:
        plan, revised = await commands.accept_family_therapy(
            commands.unit_of_work(conn, db.cause, db.events), str(patient_id), str(suggestion_id),
            decision)
        return Answer(201, plan_view(plan.id, plan.plan_id, plan.status, revised.plan),
                      headers={"ETag": etag(revised.plan.revision)})

    return await execute(request, db, idempotency_key, body, accept,
                         refusals=(PlanRuleBroken,))
