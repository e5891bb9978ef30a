"""The event catalog: every event iopnet services exchange, as typed pydantic models.

Importing this package registers them all, so ``parse_event`` knows every type.
"""

from iopnet.catalog.base import CATALOG, DomainEvent, UnknownEventType, parse_event
from iopnet.catalog.intake import PatientAdmitted, PatientReferred, ReferralSource

__all__ = [
    "CATALOG",
    "DomainEvent",
    "PatientAdmitted",
    "PatientReferred",
    "ReferralSource",
    "UnknownEventType",
    "parse_event",
]
