"""Consent is not an indication: a consent covering family participation makes plans
suggest family therapy, the clinician decides; the end of the last one takes it out."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from iopnet.catalog import (
    DischargeOutcome,
    DomainEvent,
    Modality,
    PatientAdmitted,
    PlanRevised,
    RiskLevel,
)
from iopnet.catalog import RevisionReason as Reason
from services.plans import domain
from services.plans.api.models import RevisionRequest
from services.plans.domain import (
    ClinicalDecision,
    FamilyConsent,
    FamilyTherapySuggested,
    FamilyTherapySuggestionClosed,
    PlanRuleBroken,
    TreatmentPlan,
    family_participation_consented,
)
from services.plans.domain.plan_drafting import AddIntervention, RemoveIntervention

pytestmark = pytest.mark.unit

START = date(2026, 12, 1)
TODAY = date(2026, 12, 10)
ADMITTED = PatientAdmitted(
    site_id="site-a", patient_id="p-1", program_id="iop", start_date=START, days_per_week=4,
    planned_weeks=10, clinician_id="c-7", baseline_phq9=18, risk_level=RiskLevel.LOW,
)
PARTNER = FamilyConsent("consent-1", covers_participation=True)
PARENT = FamilyConsent("consent-2", expires_on=date(2027, 3, 1), covers_participation=True)
SCHEDULE_ONLY = FamilyConsent("consent-9")
DECISION = ClinicalDecision("c-7", "family conflict maintains the depression", "key-1")


def drafted() -> TreatmentPlan:
    plan = TreatmentPlan("p-1")
    plan.draft("plan-1", "site-a", domain.open_episode(ADMITTED).findings())
    plan.mark_saved()
    return plan


def with_family_therapy(*consents: FamilyConsent) -> TreatmentPlan:
    plan = drafted()
    suggested = plan.suggest_family_therapy(consents or (PARTNER,), TODAY)
    assert suggested is not None
    plan.accept_family_therapy(suggested.suggestion_id, consents or (PARTNER,), TODAY,
                               DECISION)
    plan.mark_saved()
    return plan


def revoked(consent: FamilyConsent) -> FamilyConsent:
    return FamilyConsent(consent.consent_id, consent.expires_on, revoked=True,
                         covers_participation=consent.covers_participation)


def published(plan: TreatmentPlan) -> list[DomainEvent]:
    return [event for event in plan.pending if event.published]


def family_therapy(plan: TreatmentPlan) -> list[str]:
    assert plan.contents is not None
    return [i.id for i in plan.contents.interventions if i.modality is Modality.FAMILY_THERAPY]


def test_the_draft_never_plans_family_therapy() -> None:
    assert family_therapy(drafted()) == []


def test_a_consent_to_the_schedule_only_suggests_nothing() -> None:
    plan = drafted()
    assert not family_participation_consented([SCHEDULE_ONLY], TODAY)
    assert plan.suggest_family_therapy([SCHEDULE_ONLY], TODAY) is None
    assert plan.pending == []


def test_a_participation_consent_suggests_family_therapy_and_plans_nothing() -> None:
    plan = drafted()
    suggested = plan.suggest_family_therapy([SCHEDULE_ONLY, PARTNER], TODAY)
    assert isinstance(suggested, FamilyTherapySuggested)
    assert suggested.consent_id == "consent-1"
    assert plan.pending == [suggested]
    assert published(plan) == []
    assert (plan.revision, family_therapy(plan)) == (1, [])
    assert plan.suggest_family_therapy([PARTNER, PARENT], TODAY) is None  # one open at a time


def test_the_clinician_accepts_with_a_reason_and_a_revision_adds_family_therapy() -> None:
    plan = drafted()
    suggested = plan.suggest_family_therapy([PARTNER], TODAY)
    assert suggested is not None
    revision = plan.accept_family_therapy(suggested.suggestion_id, [PARTNER], TODAY, DECISION)
    [event] = published(plan)
    assert isinstance(event, PlanRevised)
    assert (event.revision, event.reason) == (2, Reason.CLINICAL_JUDGEMENT)
    [added] = revision.plan.interventions[-1:]
    assert (added.modality, added.sessions_per_week, added.addresses) == (
        Modality.FAMILY_THERAPY, 1, ("P1.G1.O1",))
    closed = plan.pending[-1]
    assert isinstance(closed, FamilyTherapySuggestionClosed)
    assert (closed.outcome, closed.revision, closed.clinician_id, closed.reason) == (
        "accepted", 2, "c-7", DECISION.reason)
    assert plan.open_suggestion is None
    assert plan.suggest_family_therapy([PARTNER], TODAY) is None  # it has family therapy


def test_accepting_needs_the_open_suggestion_and_a_live_consent() -> None:
    plan = drafted()
    suggested = plan.suggest_family_therapy([PARTNER], TODAY)
    assert suggested is not None
    with pytest.raises(PlanRuleBroken, match="no open suggestion"):
        plan.accept_family_therapy("other", [PARTNER], TODAY, DECISION)
    with pytest.raises(PlanRuleBroken, match="no live consent"):
        plan.accept_family_therapy(suggested.suggestion_id, [revoked(PARTNER)], TODAY,
                                   DECISION)


def test_a_clinician_cannot_plan_family_therapy_without_a_participation_consent() -> None:
    plan = drafted()
    add = [AddIntervention(Modality.FAMILY_THERAPY, 1, ("P1.G1.O1",), "c-9")]
    with pytest.raises(PlanRuleBroken, match="covering family participation"):
        plan.revise(1, add, Reason.CLINICAL_JUDGEMENT)
    plan.revise(1, add, Reason.CLINICAL_JUDGEMENT, participation_consented=True)
    assert len(family_therapy(plan)) == 1


def test_revoking_one_of_two_consents_changes_nothing() -> None:
    plan = with_family_therapy(PARTNER, PARENT)
    assert plan.withdraw_family([revoked(PARTNER), PARENT], TODAY) is None
    assert plan.pending == []
    assert len(family_therapy(plan)) == 1


def test_revoking_the_last_consent_removes_family_therapy_at_once() -> None:
    plan = with_family_therapy()
    [planned] = family_therapy(plan)
    revision = plan.withdraw_family([revoked(PARTNER), SCHEDULE_ONLY], TODAY)
    assert revision is not None
    [event] = published(plan)
    assert isinstance(event, PlanRevised)
    assert (event.revision, event.reason, event.changes) == (
        3, Reason.FAMILY_CONSENT, [f"removed:{planned}"])
    assert plan.withdraw_family([revoked(PARTNER)], TODAY) is None


def test_the_end_of_the_last_consent_lapses_an_open_suggestion() -> None:
    plan = drafted()
    suggested = plan.suggest_family_therapy([PARTNER], TODAY)
    assert suggested is not None
    plan.mark_saved()
    assert plan.withdraw_family([revoked(PARTNER)], TODAY) is None  # nothing to remove
    [lapsed] = plan.pending
    assert isinstance(lapsed, FamilyTherapySuggestionClosed)
    assert (lapsed.suggestion_id, lapsed.outcome) == (suggested.suggestion_id, "lapsed")
    assert plan.open_suggestion is None


def test_an_expired_consent_does_not_count() -> None:
    expired = FamilyConsent("consent-3", expires_on=TODAY.replace(day=9),
                            covers_participation=True)
    last_day = FamilyConsent("c", expires_on=TODAY, covers_participation=True)
    assert family_participation_consented([last_day], TODAY)
    assert not family_participation_consented([expired], TODAY)
    assert drafted().suggest_family_therapy([expired], TODAY) is None
    said_expired = FamilyConsent("consent-4", expires_on=TODAY, expired=True,
                                 covers_participation=True)
    assert not family_participation_consented([said_expired], START)


def test_withdrawing_removes_family_therapy_a_clinician_added_too() -> None:
    plan = with_family_therapy()
    plan.revise(2, [AddIntervention(Modality.FAMILY_THERAPY, 2, ("P1.G1.O1",), "c-9")],
                Reason.CLINICAL_JUDGEMENT, participation_consented=True)
    assert len(family_therapy(plan)) == 2
    plan.withdraw_family([revoked(PARTNER)], TODAY)
    assert family_therapy(plan) == []
    assert plan.revision == 4


def test_a_plan_not_drafted_or_closed_is_left_alone() -> None:
    waiting = TreatmentPlan("p-1")
    assert waiting.suggest_family_therapy([PARTNER], TODAY) is None
    closed = with_family_therapy()
    closed.discharge(DischargeOutcome.COMPLETED, TODAY)
    closed.mark_saved()
    assert closed.status is domain.PlanStatus.DISCHARGED
    assert closed.withdraw_family([revoked(PARTNER)], TODAY) is None
    assert closed.pending == []


def test_a_clinician_holding_the_revision_before_it_is_stale() -> None:
    plan = with_family_therapy()
    with pytest.raises(domain.StaleRevision) as stale:
        plan.revise(1, [RemoveIntervention("I1")], Reason.PROGRESS)
    assert (stale.value.expected, stale.value.current) == (1, 2)


def test_only_plans_records_a_family_consent_revision() -> None:
    changes = [{"change": "change_frequency", "intervention_id": "I1", "sessions_per_week": 2}]
    with pytest.raises(ValidationError, match="recorded by plans itself"):
        RevisionRequest.model_validate({"reason": "family_consent", "changes": changes})
    accepted = RevisionRequest.model_validate({"reason": "progress", "changes": changes})
    assert accepted.reason is Reason.PROGRESS


def test_a_continued_stay_needs_the_clinician_and_a_reason_and_adds_up() -> None:
    plan = drafted()
    end = domain.open_episode(ADMITTED).planned_end
    first = plan.continue_stay(2, end, DECISION)
    assert (first.weeks_added, first.planned_end, first.clinician_id, first.reason) == (
        2, end + timedelta(weeks=2), "c-7", DECISION.reason)
    assert plan.continue_stay(1, end, DECISION).planned_end == end + timedelta(weeks=3)
    with pytest.raises(domain.InvalidPlanInput) as no_reason:
        plan.continue_stay(1, end, ClinicalDecision("c-7", " "))
    assert no_reason.value.field == "reason"
    with pytest.raises(domain.InvalidPlanInput):
        plan.continue_stay(13, end, DECISION)
    plan.discharge(DischargeOutcome.COMPLETED, TODAY)
    with pytest.raises(domain.PlanClosed):
        plan.continue_stay(1, end, DECISION)
