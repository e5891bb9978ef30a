"""Sessions' HTTP API."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from iopnet.app import Pool
from iopnet.problems import not_found
from services.sessions import store

router = APIRouter(prefix="/v1", tags=["sessions"])


class EnrollmentView(BaseModel):
    patient_id: uuid.UUID
    site_id: str
    program_id: str
    days_per_week: int
    weekly_hours_target: int
    starts_on: date
    ends_on: date
    status: str


@router.get("/patients/{patient_id}", response_model=EnrollmentView)
async def read_enrollment(patient_id: uuid.UUID, pool: Pool) -> dict[str, Any]:
    enrollment = await store.find_enrollment(pool, str(patient_id))
    if enrollment is None:
        raise not_found("patient", str(patient_id))
    return enrollment
