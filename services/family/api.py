"""Family's HTTP API."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from iopnet.auth import SiteDatabase, site_database
from iopnet.catalog import Scope
from iopnet.problems import not_found
from services.family import store

Reader = Annotated[SiteDatabase, Depends(site_database(Scope.READ))]
router = APIRouter(prefix="/v1", tags=["family"])


class FamilyCircleView(BaseModel):
    patient_id: uuid.UUID
    site_id: str
    admitted_on: date
    sharing: str


@router.get("/patients/{patient_id}", response_model=FamilyCircleView)
async def read_family_circle(patient_id: uuid.UUID, db: Reader) -> dict[str, Any]:
    async with db.transaction() as conn:
        circle = await store.find_circle(conn, str(patient_id))
    if circle is None:
        raise not_found("patient", str(patient_id))
    return circle
