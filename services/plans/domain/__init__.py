"""The plans domain, pure: care episodes, treatment plans, progress and their rules."""

from services.plans.domain.episode import CareEpisode, PlanStatus, open_episode
from services.plans.domain.events import (
    PlanTransferred,
    PlanWritten,
    RevisionNoted,
    TransitionConfirmed,
)
from services.plans.domain.family import FamilyConsent, family_involved
from services.plans.domain.plan_drafting import InvalidPlanInput
from services.plans.domain.treatment_plan import (
    AftercareItem,
    Confirmation,
    PlanClosed,
    PlanRecordCorrupt,
    PlanRuleBroken,
    StaleRevision,
    StepDownNotAllowed,
    StepDownOrder,
    TreatmentPlan,
    change_code,
)

__all__ = [
    "AftercareItem",
    "CareEpisode",
    "Confirmation",
    "FamilyConsent",
    "InvalidPlanInput",
    "PlanClosed",
    "PlanRecordCorrupt",
    "PlanRuleBroken",
    "PlanStatus",
    "PlanTransferred",
    "PlanWritten",
    "RevisionNoted",
    "StaleRevision",
    "StepDownNotAllowed",
    "StepDownOrder",
    "TransitionConfirmed",
    "TreatmentPlan",
    "change_code",
    "family_involved",
    "open_episode",
]
