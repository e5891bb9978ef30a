"""Sessions' private events: facts it keeps in its own event store and never publishes.

A site's programs and their weekly groups are the site's configuration; the
terms of a patient's enrollment are what the admission decided, as sessions
keeps them (the site's time zone included). None of them holds personal data,
so nothing is sealed.
"""

from __future__ import annotations

from datetime import date, time
from typing import ClassVar

from pydantic import Field

from iopnet.catalog import Modality, PrivateNetworkEvent, PrivatePatientEvent


class ProgramDefined(PrivateNetworkEvent):
    program_id: str
    name: str


class GroupAdded(PrivateNetworkEvent):
    """A recurring group of a program: one weekday (0 = Monday), one local start time."""

    program_id: str
    group_id: str
    modality: Modality
    clinician_id: str
    weekday: int = Field(ge=0, le=6)
    starts_at: time
    duration_minutes: int = Field(gt=0)
    capacity: int = Field(gt=0)


class EnrollmentOpened(PrivatePatientEvent):
    """The admission's terms, as sessions keeps them."""

    program_id: str
    clinician_id: str
    starts_on: date
    days_per_week: int
    planned_weeks: int
    time_zone: str
    baseline_phq9: int | None = None


class EnrollmentEnded(PrivatePatientEvent):
    """The program ended for the patient (``reason``: the event that ended it)."""

    ended_on: date
    reason: str


class EnrollmentTransferred(PrivatePatientEvent):
    """The patient's care moved to ``site_id``."""

    from_site_id: str


class EnrollmentDaysChanged(PrivatePatientEvent):
    """A clinician changed the patient's days a week, and why (the reason is sealed)."""

    sealed_fields: ClassVar[tuple[str, ...]] = ("reason",)

    days_per_week: int = Field(ge=1, le=7)
    clinician_id: str
    reason: str | None = None
