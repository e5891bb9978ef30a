"""The intake domain, pure: the patient's case, the network registry, the clinical rules."""

from iopnet.catalog import LevelOfCare
from services.intake.domain.assessment import (
    AssessmentIncomplete,
    Responses,
    initial_assessment,
    score,
)
from services.intake.domain.case import (
    Admission,
    CaseStatus,
    IntakeRuleBroken,
    PatientCase,
    Referral,
)
from services.intake.domain.instruments import InvalidResponses
from services.intake.domain.level_of_care import (
    InvalidOverride,
    Recommendation,
    accept,
    override,
    recommend,
)
from services.intake.domain.network import ApiKey, NetworkRuleBroken, Site

__all__ = [
    "Admission",
    "ApiKey",
    "AssessmentIncomplete",
    "CaseStatus",
    "IntakeRuleBroken",
    "InvalidOverride",
    "InvalidResponses",
    "LevelOfCare",
    "NetworkRuleBroken",
    "PatientCase",
    "Recommendation",
    "Referral",
    "Responses",
    "Site",
    "accept",
    "initial_assessment",
    "override",
    "recommend",
    "score",
]
