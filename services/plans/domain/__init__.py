"""The plans domain, pure: care episodes, treatment plans, progress and their rules."""

from services.plans.domain.episode import CareEpisode, PlanStatus, open_episode
from services.plans.domain.family import FamilyConsent, family_involved
from services.plans.domain.plan_drafting import InvalidPlanInput
from services.plans.domain.treatment_plan import (
    AftercareItem,
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
    "FamilyConsent",
    "InvalidPlanInput",
    "PlanClosed",
    "PlanRecordCorrupt",
    "PlanRuleBroken",
    "PlanStatus",
    "StaleRevision",
    "StepDownNotAllowed",
    "StepDownOrder",
    "TreatmentPlan",
    "change_code",
    "family_involved",
    "open_episode",
]
