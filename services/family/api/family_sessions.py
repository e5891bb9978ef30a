"""Routes for family therapy and family psychoeducation sessions."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from iopnet.db import Connection
from iopnet.idempotency import Answer, IdempotencyKey
from services.family import commands, store
from services.family.api.common import Reader, Writer, require_circle, run
from services.family.api.models import FamilySessionRequest, FamilySessionView
from services.family.domain import Attendance

router = APIRouter(prefix="/v1/patients/{patient_id}/family-sessions", tags=["family"])


@router.post("", status_code=201, responses={201: {"model": FamilySessionView}})
async def record_family_session(patient_id: uuid.UUID, body: FamilySessionRequest,
                                request: Request, db: Writer, idempotency_key: IdempotencyKey = None
                                ) -> JSONResponse:
    """A family session that was held, with which support persons attended."""
    command = commands.RecordFamilySession(
        str(patient_id), body.kind, body.held_on, body.clinician_id,
        tuple(Attendance(str(a.support_person_id), a.attended) for a in body.attendance))

    async def record(conn: Connection) -> Answer:
        held = await commands.record_family_session(
            commands.unit_of_work(conn, db.cause, db.events), db.principal.data_site, command)
        return Answer(201, FamilySessionView.model_validate(held).model_dump(mode="json"))

    return await run(request, db, idempotency_key, body, record)


@router.get("", response_model=list[FamilySessionView])
async def list_family_sessions(patient_id: uuid.UUID, db: Reader) -> list[dict[str, Any]]:
    async with db.transaction() as conn:
        await require_circle(conn, patient_id)
        return await store.family_sessions(conn, str(patient_id))
