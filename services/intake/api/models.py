"""Request and response shapes shared by intake's routes."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel


class PatientView(BaseModel):
    patient_id: uuid.UUID
    site_id: str
    status: str
    referral_id: uuid.UUID
    referral_source: str
    referred_on: date
    decided_level: str | None
    program_id: str | None
    start_date: date | None
    days_per_week: int | None
    planned_weeks: int | None
    clinician_id: str | None
    version: int
