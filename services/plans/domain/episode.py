"""The plans domain: a patient's care episode awaiting its treatment plan. Pure; no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from iopnet.catalog import PatientAdmitted


class PlanStatus(StrEnum):
    AWAITING_DRAFT = "awaiting_draft"


@dataclass(frozen=True)
class CareEpisode:
    patient_id: str
    site_id: str
    program_id: str
    clinician_id: str
    starts_on: date
    planned_end: date
    plan_status: PlanStatus


def open_episode(admitted: PatientAdmitted) -> CareEpisode:
    """The episode a treatment plan will be drafted for, from the admission."""
    return CareEpisode(
        patient_id=admitted.patient_id,
        site_id=admitted.site_id,
        program_id=admitted.program_id,
        clinician_id=admitted.clinician_id,
        starts_on=admitted.start_date,
        planned_end=admitted.start_date + timedelta(weeks=admitted.planned_weeks),
        plan_status=PlanStatus.AWAITING_DRAFT,
    )
