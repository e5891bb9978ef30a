"""The intake domain, pure: the patient's case, the network registry, the clinical rules."""

from services.intake.domain.case import (
    Admission,
    CaseStatus,
    IntakeRuleBroken,
    PatientCase,
    Referral,
)
from services.intake.domain.network import ApiKey, NetworkRuleBroken, Site

__all__ = [
    "Admission",
    "ApiKey",
    "CaseStatus",
    "IntakeRuleBroken",
    "NetworkRuleBroken",
    "PatientCase",
    "Referral",
    "Site",
]
