"""The intake domain, pure: the patient's case, the network registry, the clinical rules."""

from iopnet.catalog import LevelOfCare
from services.intake.domain.assessment import (
    AssessmentIncomplete,
    Responses,
    Scored,
    initial_assessment,
    score,
)
from services.intake.domain.case import (
    Admission,
    CaseStatus,
    ClinicianNote,
    DecisionRecord,
    ForgettingOrder,
    IntakeRuleBroken,
    PatientCase,
    Referral,
    decide,
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
from services.intake.domain.private_events import Identity
from services.intake.domain.retention import StillRetained, retained_until
from services.intake.domain.safety_plan import InvalidSafetyPlan, SafetyPlan

__all__ = [
    "Admission",
    "ApiKey",
    "AssessmentIncomplete",
    "CaseStatus",
    "ClinicianNote",
    "DecisionRecord",
    "ForgettingOrder",
    "Identity",
    "IntakeRuleBroken",
    "InvalidOverride",
    "InvalidResponses",
    "InvalidSafetyPlan",
    "LevelOfCare",
    "NetworkRuleBroken",
    "PatientCase",
    "Recommendation",
    "Referral",
    "Responses",
    "SafetyPlan",
    "Scored",
    "Site",
    "StillRetained",
    "accept",
    "decide",
    "initial_assessment",
    "override",
    "recommend",
    "retained_until",
    "score",
]
