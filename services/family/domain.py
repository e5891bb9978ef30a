"""The family domain: what may be shared with a patient's support persons. Pure; no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from iopnet.catalog import PatientAdmitted


class SharingScope(StrEnum):
    NOTHING = "nothing"
    SCHEDULE = "schedule"
    PROGRESS_SUMMARIES = "progress_summaries"


@dataclass(frozen=True)
class FamilyCircle:
    """A patient's support context. Nothing is shared until the patient consents."""

    patient_id: str
    site_id: str
    admitted_on: date
    sharing: SharingScope


def open_circle(admitted: PatientAdmitted) -> FamilyCircle:
    return FamilyCircle(
        patient_id=admitted.patient_id,
        site_id=admitted.site_id,
        admitted_on=admitted.start_date,
        sharing=SharingScope.NOTHING,
    )
