"""The plans domain, pure: care episodes, treatment plans, progress and their rules."""

from services.plans.domain.episode import CareEpisode, PlanStatus, open_episode
from services.plans.domain.events import (
    ContinuedStayApproved,
    FamilyTherapySuggested,
    FamilyTherapySuggestionClosed,
    PlanTransferred,
    PlanWritten,
    RevisionNoted,
    TransitionConfirmed,
)
from services.plans.domain.family import FamilyConsent, family_participation_consented
from services.plans.domain.plan_drafting import InvalidPlanInput
from services.plans.domain.safety_plan import SafetyPlanCheck, SafetyPlanStatus, check_safety_plan
from services.plans.domain.treatment_plan import (
    AftercareItem,
    ClinicalDecision,
    Confirmation,
    PlanClosed,
    PlanRecordCorrupt,
    PlanRuleBroken,
    SafetyPlanNeeded,
    StaleRevision,
    StepDownNotAllowed,
    StepDownOrder,
    TreatmentPlan,
    change_code,
)

__all__ = [
    "AftercareItem",
    "CareEpisode",
    "ClinicalDecision",
    "Confirmation",
    "ContinuedStayApproved",
    "FamilyConsent",
    "FamilyTherapySuggested",
    "FamilyTherapySuggestionClosed",
    "InvalidPlanInput",
    "PlanClosed",
    "PlanRecordCorrupt",
    "PlanRuleBroken",
    "PlanStatus",
    "PlanTransferred",
    "PlanWritten",
    "RevisionNoted",
    "SafetyPlanCheck",
    "SafetyPlanNeeded",
    "SafetyPlanStatus",
    "StaleRevision",
    "StepDownNotAllowed",
    "StepDownOrder",
    "TransitionConfirmed",
    "TreatmentPlan",
    "change_code",
    "check_safety_plan",
    "family_participation_consented",
    "open_episode",
]
