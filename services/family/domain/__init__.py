"""The family domain, pure: the circle aggregate, consent, and what may be shared."""

from services.family.domain.circle import (
    Attendance,
    FamilyCircle,
    FamilySession,
    FamilySessionKind,
    PersonName,
)
from services.family.domain.consent import Consent, ConsentStatus, what_may_be_shared
from services.family.domain.errors import (
    ConsentAlreadyRevoked,
    FamilyRuleBroken,
    InvalidRequest,
    NotFound,
)
from services.family.domain.progress import CareStatus, status_after_discharge

__all__ = [
    "Attendance",
    "CareStatus",
    "Consent",
    "ConsentAlreadyRevoked",
    "ConsentStatus",
    "FamilyCircle",
    "FamilyRuleBroken",
    "FamilySession",
    "FamilySessionKind",
    "InvalidRequest",
    "NotFound",
    "PersonName",
    "status_after_discharge",
    "what_may_be_shared",
]
