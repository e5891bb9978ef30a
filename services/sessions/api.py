"""Sessions' HTTP API."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from iopnet.auth import SiteDatabase, site_database
from iopnet.catalog import Scope
from iopnet.problems import not_found
from services.sessions import store

Reader = Annotated[SiteDatabase, Depends(site_database(Scope.READ))]
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
async def read_enrollment(patient_id: uuid.UUID, db: Reader) -> dict[str, Any]:
    async with db.transaction() as conn:
        enrollment = await store.find_enrollment(conn, str(patient_id))
    if enrollment is None:
        raise not_found("patient", str(patient_id))
    return enrollment
