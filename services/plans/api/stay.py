"""Routes for continued stay: extending the stay beyond the planned weeks is a clinician's
decision, recorded with their reason (ContinuedStayApproved)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from iopnet.db import Connection
from iopnet.fields import Identifier, Strict
from iopnet.idempotency import Answer, IdempotencyKey, execute
from services.plans import commands, store
from services.plans.api.common import Reader, Writer, episode_row
from services.plans.domain import ClinicalDecision, PlanRuleBroken
from services.plans.domain.treatment_plan import MAX_WEEKS_ADDED

router = APIRouter(prefix="/v1", tags=["progress and step-down"])


class ContinuedStayRequest(Strict):
    weeks: int = Field(ge=1, le=MAX_WEEKS_ADDED, description="Weeks added to the stay")
    clinician_id: Identifier
    reason: str = Field(min_length=10, max_length=2000,
                        description="Why the stay continues. Kept in plans only.")


class ContinuedStayView(BaseModel):
    extension: int
    weeks_added: int
    planned_end: date = Field(description="The day after the last program day, as extended")
    clinician_id: str
    reason: str | None
    recorded_by: str | None
    recorded_at: datetime


@router.get("/patients/{patient_id}/continued-stays", response_model=list[ContinuedStayView])
async def read_continued_stays(patient_id: uuid.UUID, db: Reader) -> list[dict[str, Any]]:
    async with db.transaction() as conn:
        await episode_row(conn, patient_id)
        return await store.list_continued_stays(conn, str(patient_id))


@router.post("/patients/{patient_id}/continued-stays", status_code=201,
             responses={201: {"model": ContinuedStayView}})
async def continue_stay(patient_id: uuid.UUID, body: ContinuedStayRequest, request: Request,
                        db: Writer, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Extend the stay beyond the planned weeks: the clinician and their reason, recorded."""
    decision = ClinicalDecision(body.clinician_id, body.reason, db.principal.key_id)

    async def extend(conn: Connection) -> Answer:
        await commands.continue_stay(commands.unit_of_work(conn, db.cause, db.events),
                                     str(patient_id), body.weeks, decision)
        [*_, latest] = await store.list_continued_stays(conn, str(patient_id))
        return Answer(201, ContinuedStayView.model_validate(latest).model_dump(mode="json"))

    return await execute(request, db, idempotency_key, body, extend,
                         refusals=(PlanRuleBroken,))
