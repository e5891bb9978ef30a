"""Plans' HTTP API."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from iopnet.auth import SiteDatabase, site_database
from iopnet.catalog import Scope
from iopnet.problems import not_found
from services.plans import store

Reader = Annotated[SiteDatabase, Depends(site_database(Scope.READ))]
router = APIRouter(prefix="/v1", tags=["plans"])


class CareEpisodeView(BaseModel):
    patient_id: uuid.UUID
    site_id: str
    program_id: str
    clinician_id: str
    starts_on: date
    planned_end: date
    plan_status: str


@router.get("/patients/{patient_id}", response_model=CareEpisodeView)
async def read_care_episode(patient_id: uuid.UUID, db: Reader) -> dict[str, Any]:
    async with db.transaction() as conn:
        episode = await store.find_episode(conn, str(patient_id))
    if episode is None:
        raise not_found("patient", str(patient_id))
    return episode
