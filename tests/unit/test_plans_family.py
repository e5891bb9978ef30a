"""Family therapy follows the patient's live consents: in with the first, out with the last."""

from __future__ import annotations

from datetime import date

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
from services.plans.domain import FamilyConsent, TreatmentPlan, family_involved
from services.plans.domain.plan_drafting import AddIntervention, RemoveIntervention

pytestmark = pytest.mark.unit

START = date(2026, 12, 1)
TODAY = date(2026, 12, 10)
ADMITTED = PatientAdmitted(
    site_id="site-a", patient_id="p-1", program_id="iop", start_date=START, days_per_week=4,
    planned_weeks=10, clinician_id="c-7", baseline_phq9=18, risk_level=RiskLevel.LOW,
)
PARTNER = FamilyConsent("consent-1")
PARENT = FamilyConsent("consent-2", expires_on=date(2027, 3, 1))


def drafted(*, family_consent: bool = False) -> TreatmentPlan:
    plan = TreatmentPlan("p-1")
    plan.draft("plan-1", "site-a", domain.open_episode(ADMITTED).findings(
        family_consent=family_consent))
    plan.mark_saved()
    return plan


def revoked(consent: FamilyConsent) -> FamilyConsent:
    return FamilyConsent(consent.consent_id, consent.expires_on, revoked=True)


def published(plan: TreatmentPlan) -> list[DomainEvent]:
    return [event for event in plan.pending if event.published]


def family_therapy(plan: TreatmentPlan) -> list[str]:
    assert plan.contents is not None
    return [i.id for i in plan.contents.interventions if i.modality is Modality.FAMILY_THERAPY]


def test_a_first_consent_adds_weekly_family_therapy_once() -> None:
    plan = drafted()
    revision = plan.involve_family([PARTNER], TODAY)
    assert revision is not None
    [event] = published(plan)
    assert isinstance(event, PlanRevised)
    assert (event.revision, event.reason) == (2, Reason.FAMILY_CONSENT)
    [added] = revision.plan.interventions[-1:]
    assert event.changes == [f"added:{added.id}"]
    assert (added.modality, added.sessions_per_week, added.addresses, added.clinician_id) == (
        Modality.FAMILY_THERAPY, 1, ("P1.G1.O1",), "c-7")
    assert [i.intervention_id for i in event.interventions] == [
        i.id for i in revision.plan.interventions]
    assert plan.involve_family([PARTNER], TODAY) is None  # the same consent, redelivered
    assert len(published(plan)) == 1


def test_a_second_consent_changes_nothing() -> None:
    plan = drafted(family_consent=True)
    assert plan.involve_family([PARTNER, PARENT], TODAY) is None
    assert (plan.pending, plan.revision) == ([], 1)


def test_revoking_one_of_two_consents_changes_nothing() -> None:
    plan = drafted(family_consent=True)
    assert plan.withdraw_family([revoked(PARTNER), PARENT], TODAY) is None
    assert plan.pending == []
    assert len(family_therapy(plan)) == 1


def test_revoking_the_last_consent_removes_family_therapy() -> None:
    plan = drafted(family_consent=True)
    [planned] = family_therapy(plan)
    revision = plan.withdraw_family([revoked(PARTNER), revoked(PARENT)], TODAY)
    assert revision is not None
    [event] = published(plan)
    assert isinstance(event, PlanRevised)
    assert (event.revision, event.reason, event.changes) == (
        2, Reason.FAMILY_CONSENT, [f"removed:{planned}"])
    assert Modality.FAMILY_THERAPY not in {i.modality for i in event.interventions}
    assert plan.withdraw_family([revoked(PARTNER)], TODAY) is None


def test_an_expired_consent_does_not_count() -> None:
    expired = FamilyConsent("consent-3", expires_on=TODAY.replace(day=9))
    assert family_involved([FamilyConsent("c", expires_on=TODAY)], TODAY)  # its last day
    assert not family_involved([expired], TODAY)
    assert drafted().involve_family([expired], TODAY) is None
    plan = drafted(family_consent=True)
    assert plan.withdraw_family([revoked(PARTNER), expired], TODAY) is not None
    assert family_therapy(plan) == []


def test_a_consent_family_said_expired_counts_no_more_on_any_day() -> None:
    expired = FamilyConsent("consent-3", expires_on=TODAY, expired=True)
    assert not family_involved([expired], START)
    plan = drafted(family_consent=True)
    assert plan.withdraw_family([revoked(PARTNER), expired], START) is not None
    assert family_therapy(plan) == []


def test_withdrawing_removes_family_therapy_a_clinician_added_too() -> None:
    plan = drafted()
    plan.involve_family([PARTNER], TODAY)
    plan.revise(2, [AddIntervention(Modality.FAMILY_THERAPY, 2, ("P1.G1.O1",), "c-9")],
                Reason.CLINICAL_JUDGEMENT)
    assert len(family_therapy(plan)) == 2
    plan.withdraw_family([revoked(PARTNER)], TODAY)
    assert family_therapy(plan) == []
    assert plan.revision == 4


def test_a_plan_not_drafted_or_closed_is_left_alone() -> None:
    waiting = TreatmentPlan("p-1")
    assert waiting.involve_family([PARTNER], TODAY) is None
    closed = drafted(family_consent=True)
    closed.discharge(DischargeOutcome.COMPLETED, TODAY)
    closed.mark_saved()
    assert closed.status is domain.PlanStatus.DISCHARGED
    assert closed.withdraw_family([revoked(PARTNER)], TODAY) is None
    assert closed.pending == []


def test_a_clinician_holding_the_revision_before_it_is_stale() -> None:
    plan = drafted()
    plan.involve_family([PARTNER], TODAY)
    with pytest.raises(domain.StaleRevision) as stale:
        plan.revise(1, [RemoveIntervention("I1")], Reason.PROGRESS)
    assert (stale.value.expected, stale.value.current) == (1, 2)


def test_only_plans_records_a_family_consent_revision() -> None:
    changes = [{"change": "change_frequency", "intervention_id": "I1", "sessions_per_week": 2}]
    with pytest.raises(ValidationError, match="recorded by plans itself"):
        RevisionRequest.model_validate({"reason": "family_consent", "changes": changes})
    accepted = RevisionRequest.model_validate({"reason": "progress", "changes": changes})
    assert accepted.reason is Reason.PROGRESS
