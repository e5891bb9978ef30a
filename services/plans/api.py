"""Plans' HTTP API."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from iopnet.app import Pool
from iopnet.problems import not_found
from services.plans import store

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
async def read_care_episode(patient_id: uuid.UUID, pool: Pool) -> dict[str, Any]:
    episode = await store.find_episode(pool, str(patient_id))
    if episode is None:
        raise not_found("patient", str(patient_id))
    return episode
