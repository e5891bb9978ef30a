"""The event catalog: every event iopnet services exchange, as typed pydantic models.

Importing this package registers them all, so ``parse_event`` knows every type.
"""

from iopnet.catalog.base import (
    CATALOG,
    DomainEvent,
    NetworkEvent,
    PatientEvent,
    UnknownEventType,
    parse_event,
)
from iopnet.catalog.intake import PatientAdmitted, PatientReferred, ReferralSource
from iopnet.catalog.network import (
    ApiKeyIssued,
    ApiKeyRevoked,
    PatientTransferred,
    Scope,
    SiteOnboarded,
    SitePolicies,
    SitePoliciesChanged,
)

__all__ = [
    "CATALOG",
    "ApiKeyIssued",
    "ApiKeyRevoked",
    "DomainEvent",
    "NetworkEvent",
    "PatientAdmitted",
    "PatientEvent",
    "PatientReferred",
    "PatientTransferred",
    "ReferralSource",
    "Scope",
    "SiteOnboarded",
    "SitePolicies",
    "SitePoliciesChanged",
    "UnknownEventType",
    "parse_event",
]
