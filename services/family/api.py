"""Family's HTTP API."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from iopnet.app import Pool
from iopnet.problems import not_found
from services.family import store

router = APIRouter(prefix="/v1", tags=["family"])


class FamilyCircleView(BaseModel):
    patient_id: uuid.UUID
    site_id: str
    admitted_on: date
    sharing: str


@router.get("/patients/{patient_id}", response_model=FamilyCircleView)
async def read_family_circle(patient_id: uuid.UUID, pool: Pool) -> dict[str, Any]:
    circle = await store.find_circle(pool, str(patient_id))
    if circle is None:
        raise not_found("patient", str(patient_id))
    return circle
