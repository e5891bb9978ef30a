"""Routes for attendance at a session, one patient at a time."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from iopnet.auth import SiteDatabase, site_database
from iopnet.catalog import Scope
from iopnet.db import Connection
from iopnet.fields import Strict
from iopnet.idempotency import Answer, IdempotencyKey, execute
from iopnet.problems import not_found
from services.sessions import commands
from services.sessions.api.models import invalid
from services.sessions.api.patients import SessionView, session_view
from services.sessions.domain import (
    AttendanceStatus,
    InvalidAttendance,
    SessionsRuleBroken,
    UnknownSession,
)

router = APIRouter(prefix="/v1/sessions", tags=["attendance"])
Writer = Annotated[SiteDatabase, Depends(site_database(Scope.SESSIONS_WRITE))]
#: The rules' names for the request's fields.
_POINTERS = {"minutes_late": "#/late_minutes", "status": "#/status"}


class AttendanceRequest(Strict):
    patient_id: uuid.UUID
    status: AttendanceStatus
    late_minutes: int = Field(default=0, ge=0, le=480,
                              description="Only for status 'late' (at least 1)")


@router.post("/{session_id}/attendance", status_code=201,
             responses={201: {"model": SessionView}, 200: {"model": SessionView}})
async def record_attendance(session_id: uuid.UUID, body: AttendanceRequest, request: Request,
                            db: Writer, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Attended or late → SessionAttended; absent or excused → SessionMissed. The same record
    again answers 200; a different one for the same patient and session is a conflict."""
    async def record(conn: Connection) -> Answer:
        try:
            enrollment, new = await commands.record_attendance(
                commands.unit_of_work(conn, db.cause), str(body.patient_id), str(session_id),
                body.status, body.late_minutes)
        except commands.UnknownPatient:
            raise not_found("patient", str(body.patient_id)) from None
        except UnknownSession:
            raise not_found("session", f"{session_id} for this patient") from None
        except InvalidAttendance as wrong:
            raise invalid(_POINTERS.get(wrong.field, "#/"), wrong.message) from wrong
        view = session_view(enrollment, enrollment.sessions[str(session_id)])
        return Answer(201 if new else 200, view)

    return await execute(request, db, idempotency_key, body, record,
                         refusals=(SessionsRuleBroken,))
