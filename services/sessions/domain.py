"""The sessions domain: a patient's enrollment in the program's schedule. Pure; no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from iopnet.catalog import PatientAdmitted

#: A typical IOP day is one session of about three hours.
HOURS_PER_PROGRAM_DAY = 3


class EnrollmentStatus(StrEnum):
    AWAITING_SCHEDULE = "awaiting_schedule"


@dataclass(frozen=True)
class Enrollment:
    patient_id: str
    site_id: str
    program_id: str
    days_per_week: int
    weekly_hours_target: int
    starts_on: date
    ends_on: date
    status: EnrollmentStatus


def enroll(admitted: PatientAdmitted) -> Enrollment:
    """The enrollment an admission calls for, before groups are assigned."""
    return Enrollment(
        patient_id=admitted.patient_id,
        site_id=admitted.site_id,
        program_id=admitted.program_id,
        days_per_week=admitted.days_per_week,
        weekly_hours_target=admitted.days_per_week * HOURS_PER_PROGRAM_DAY,
        starts_on=admitted.start_date,
        ends_on=admitted.start_date + timedelta(weeks=admitted.planned_weeks),
        status=EnrollmentStatus.AWAITING_SCHEDULE,
    )
