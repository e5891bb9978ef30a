"""Notifications' HTTP API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from iopnet.auth import SiteDatabase, site_database
from iopnet.catalog import Scope
from iopnet.problems import not_found
from services.notifications import store

Reader = Annotated[SiteDatabase, Depends(site_database(Scope.READ))]
router = APIRouter(prefix="/v1", tags=["notifications"])


class MessageView(BaseModel):
    id: int
    kind: str
    status: str
    created_at: datetime


class PatientMessagesView(BaseModel):
    patient_id: uuid.UUID
    site_id: str
    messages: list[MessageView]


@router.get("/patients/{patient_id}", response_model=PatientMessagesView)
async def read_patient_messages(patient_id: uuid.UUID, db: Reader) -> PatientMessagesView:
    async with db.transaction() as conn:
        messages = await store.messages_for(conn, str(patient_id))
    if not messages:
        raise not_found("patient", str(patient_id))
    return PatientMessagesView(
        patient_id=patient_id, site_id=messages[0]["site_id"],
        messages=[MessageView.model_validate(m) for m in messages],
    )
