"""Events of the network itself: sites, their policies, their API keys, transfers."""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from iopnet.catalog.base import EventPart, NetworkEvent, PatientEvent
from iopnet.catalog.codes import IOP_MIN_WEEKLY_HOURS, PHP_MIN_WEEKLY_HOURS


class Scope(StrEnum):
    """What an API key may do. ``operator`` is the network operator's: every site."""

    READ = "read"
    INTAKE_WRITE = "intake:write"
    PLANS_WRITE = "plans:write"
    SESSIONS_WRITE = "sessions:write"
    FAMILY_WRITE = "family:write"
    NOTIFICATIONS_ADMIN = "notifications:admin"
    #: Acknowledging urgent alerts (a clinician closing the loop).
    NOTIFICATIONS_WRITE = "notifications:write"
    OPERATOR = "operator"


class SitePolicies(EventPart):
    """A site's clinical and operational policies; every field has the network default."""

    step_down_min_weeks: int = Field(default=6, ge=1, le=12)
    step_down_phq9_below: int = Field(default=10, ge=1, le=27)
    step_down_response_drop: float = Field(default=0.5, gt=0, le=1)
    step_down_consecutive_measures: int = Field(default=2, ge=1, le=6)
    step_down_min_attendance: float = Field(default=0.75, ge=0, le=1)
    #: The weekly hours of services under which a week is flagged. An IOP is at least 9
    #: hours a week and under 20 (42 CFR 410.44 and 424.24(d), CY 2024 OPPS final rule),
    #: so a site may ask for more, never less, and not 20 (partial hospitalization).
    attendance_min_weekly_hours: float = Field(default=IOP_MIN_WEEKLY_HOURS,
                                               ge=IOP_MIN_WEEKLY_HOURS, lt=PHP_MIN_WEEKLY_HOURS)
    outreach_after_absences: int = Field(default=2, ge=1, le=10)
    quiet_hours_start: time = time(21, 0)
    quiet_hours_end: time = time(8, 0)
    #: Years a patient's records are kept after their last event before they may be
    #: forgotten without an override. HIPAA keeps required documentation six years
    #: (45 CFR 164.316(b)(2)(i)); that is the floor, state law may ask for longer.
    record_retention_years: int = Field(default=6, ge=6, le=100)


class SiteOnboarded(NetworkEvent):
    schema_version: ClassVar[int] = 2  # 2: attendance_min_weekly_hours is 9 to under 20

    name: str
    time_zone: str
    policies: SitePolicies


class SitePoliciesChanged(NetworkEvent):
    schema_version: ClassVar[int] = 2  # 2: attendance_min_weekly_hours is 9 to under 20

    policies: SitePolicies


class ApiKeyIssued(NetworkEvent):
    """A key for a site. Only the secret's SHA-256 travels; the secret is shown once."""

    key_id: str
    secret_sha256: str
    scopes: list[Scope]
    expires_at: datetime | None = None
    rate_limit_per_minute: int = Field(default=600, ge=1)
    replaces: str | None = None


class ApiKeyRevoked(NetworkEvent):
    key_id: str


class PatientTransferred(PatientEvent):
    """The patient's care moves to ``site_id``; ``from_site_id`` keeps only its history."""

    from_site_id: str
