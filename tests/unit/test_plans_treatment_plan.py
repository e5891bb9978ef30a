"""The TreatmentPlan aggregate: draft, revisions over the revision read, closure."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from iopnet.catalog import (
    Discharged,
    DischargeOutcome,
    DomainEvent,
    LevelOfCare,
    PatientAdmitted,
    PlanDrafted,
    PlanRevised,
    RevisionReason,
    RiskLevel,
    SteppedDown,
    SteppedUp,
)
from iopnet.fields import InvalidField
from services.plans.domain import (
    AftercareItem,
    Confirmation,
    FamilyConsent,
    InvalidPlanInput,
    PlanClosed,
    PlanRecordCorrupt,
    PlanRuleBroken,
    PlanStatus,
    PlanTransferred,
    PlanWritten,
    RevisionNoted,
    StaleRevision,
    StepDownNotAllowed,
    StepDownOrder,
    TransitionConfirmed,
    TreatmentPlan,
    open_episode,
)
from services.plans.domain.as_written import plan_contents
from services.plans.domain.plan_drafting import (
    AddIntervention,
    ChangeFrequency,
    Modality,
    RemoveIntervention,
)
from services.plans.domain.step_down import (
    Criterion,
    CriterionCode,
    StepDownEvaluation,
    StepUpReasonCode,
)

pytestmark = pytest.mark.unit

START = date(2026, 12, 1)
ADMITTED = PatientAdmitted(
    site_id="site-a", patient_id="p-1", program_id="iop", start_date=START, days_per_week=4,
    planned_weeks=10, clinician_id="c-7", baseline_phq9=18, baseline_gad7=12,
    auditc_positive=True, risk_level=RiskLevel.LOW, co_occurring=["anxiety", "alcohol_use"],
)
AFTERCARE = (AftercareItem.WEEKLY_OUTPATIENT_THERAPY, AftercareItem.RELAPSE_PREVENTION_PLAN)


def drafted() -> TreatmentPlan:
    plan = TreatmentPlan("p-1")
    plan.draft("plan-1", "site-a", open_episode(ADMITTED).findings())
    plan.mark_saved()
    return plan


def evaluation(*unmet: CriterionCode) -> StepDownEvaluation:
    criteria = tuple(Criterion(code, code not in unmet, "") for code in CriterionCode)
    return StepDownEvaluation(not unmet, criteria)


def test_the_episode_is_the_admission_as_plans_keeps_it() -> None:
    episode = open_episode(ADMITTED)
    assert (episode.patient_id, episode.site_id, episode.program_id, episode.starts_on,
            episode.planned_end, episode.co_occurring) == (
        "p-1", "site-a", "iop", START, START + timedelta(weeks=10), ("anxiety", "alcohol_use"))


def test_admission_findings_draft_revision_one_with_every_problem() -> None:
    plan = TreatmentPlan("p-1")
    contents = plan.draft("plan-1", "site-a", open_episode(ADMITTED).findings())
    [event] = published(plan)
    assert isinstance(event, PlanDrafted)
    assert (event.revision, event.plan_id, event.site_id) == (1, "plan-1", "site-a")
    assert event.problem_codes == ["depression", "anxiety", "alcohol_use"]
    assert [i.modality.value for i in event.interventions] == [
        i.modality.value for i in contents.interventions]
    assert "family_therapy" not in {i.modality.value for i in event.interventions}
    assert contents.objective_ids() == ("P1.G1.O1", "P1.G2.O1", "P2.G1.O1", "P3.G1.O1")
    assert (plan.status, plan.revision) == (PlanStatus.ACTIVE, 1)


def test_a_clinician_admitted_high_risk_still_gets_a_plan_with_a_safety_goal() -> None:
    high = ADMITTED.model_copy(update={"risk_level": RiskLevel.HIGH, "overridden": True})
    contents = TreatmentPlan("p-1").draft("plan-1", "site-a", open_episode(high).findings())
    assert "P1.G2.O1" in contents.objective_ids()


def test_drafting_twice_is_refused() -> None:
    with pytest.raises(PlanRuleBroken):
        drafted().draft("plan-2", "site-a", open_episode(ADMITTED).findings())


def test_a_revision_over_the_current_revision_records_change_codes() -> None:
    plan = drafted()
    revision = plan.revise(1, [
        ChangeFrequency("I1", 3),
        RemoveIntervention("I5"),
        AddIntervention(Modality.FAMILY_THERAPY, 1, ("P1.G1.O1",), "c-9"),
    ], RevisionReason.PROGRESS, participation_consented=True)
    [event] = published(plan)
    assert isinstance(event, PlanRevised)
    assert event.revision == 2 == plan.revision == revision.plan.revision
    last = f"I{len(drafted().interventions) + 1}"
    assert event.changes == ["frequency:I1:4->3", "removed:I5", f"added:{last}"]
    assert event.reason is RevisionReason.PROGRESS
    assert [i.intervention_id for i in event.interventions] == [
        i.id for i in revision.plan.interventions]


def test_a_stale_revision_is_refused_never_merged() -> None:
    plan = drafted()
    plan.revise(1, [ChangeFrequency("I1", 3)], RevisionReason.PROGRESS)
    with pytest.raises(StaleRevision) as stale:
        plan.revise(1, [ChangeFrequency("I2", 2)], RevisionReason.PROGRESS)
    assert (stale.value.expected, stale.value.current) == (1, 2)
    assert len(published(plan)) == 1


def test_invalid_changes_name_the_change_at_fault() -> None:
    with pytest.raises(InvalidPlanInput) as invalid:
        drafted().revise(1, [ChangeFrequency("I1", 3), RemoveIntervention("I99")],
                         RevisionReason.RISK)
    assert invalid.value.field == "changes[1].intervention_id"


def test_step_down_is_refused_with_the_unmet_criteria() -> None:
    plan = drafted()
    order = StepDownOrder(date(2027, 1, 20), 7, AFTERCARE)
    with pytest.raises(StepDownNotAllowed) as refused:
        plan.step_down(evaluation(CriterionCode.ATTENDANCE), order)
    assert refused.value.evaluation.unmet == (CriterionCode.ATTENDANCE,)
    assert not plan.pending


def test_a_clinician_may_override_unmet_criteria_but_not_a_risk_signal() -> None:
    order = StepDownOrder(date(2027, 1, 20), 7, AFTERCARE, "patient moving; outpatient set up")
    with pytest.raises(StepDownNotAllowed):
        drafted().step_down(evaluation(CriterionCode.NO_RISK_SIGNALS), order)
    plan = drafted()
    plan.step_down(evaluation(CriterionCode.TIME_IN_PROGRAM), order)
    [event] = published(plan)
    assert isinstance(event, SteppedDown)
    assert event.to_level is LevelOfCare.STANDARD_OUTPATIENT


def test_step_down_when_eligible_carries_the_aftercare_plan_and_closes_the_plan() -> None:
    plan = drafted()
    plan.step_down(evaluation(), StepDownOrder(date(2027, 1, 20), 7, (*AFTERCARE, *AFTERCARE)))
    [event] = published(plan)
    assert isinstance(event, SteppedDown)
    assert event.aftercare == ["weekly_outpatient_therapy", "relapse_prevention_plan"]
    assert event.follow_up_within_days == 7
    assert plan.status is PlanStatus.STEPPED_DOWN
    with pytest.raises(PlanClosed):
        plan.revise(1, [ChangeFrequency("I1", 3)], RevisionReason.PROGRESS)
    with pytest.raises(PlanClosed):
        plan.discharge(DischargeOutcome.COMPLETED, date(2027, 1, 21))


def test_step_up_goes_only_to_a_higher_level_and_closes_the_plan() -> None:
    with pytest.raises(PlanRuleBroken):
        drafted().step_up(LevelOfCare.STANDARD_OUTPATIENT,
                          [StepUpReasonCode.RISE_ABOVE_BASELINE], date(2026, 12, 20))
    plan = drafted()
    plan.step_up(LevelOfCare.PARTIAL_HOSPITALIZATION, [StepUpReasonCode.RISE_ABOVE_BASELINE],
                 date(2026, 12, 20))
    [event] = published(plan)
    assert isinstance(event, SteppedUp)
    assert event.reason_codes == ["rise_above_baseline"]
    assert plan.status is PlanStatus.STEPPED_UP


def test_transitions_cannot_predate_the_program() -> None:
    with pytest.raises(PlanRuleBroken):
        drafted().discharge(DischargeOutcome.LEFT_AGAINST_ADVICE, date(2026, 11, 30))


def test_discharge_closes_the_plan() -> None:
    plan = drafted()
    plan.discharge(DischargeOutcome.COMPLETED, date(2027, 2, 9))
    assert isinstance(plan.pending[0], Discharged)
    assert plan.status is PlanStatus.DISCHARGED


def test_the_plan_in_full_and_its_words_are_private_events() -> None:
    plan = TreatmentPlan("p-1")
    contents = plan.draft("plan-1", "site-a", open_episode(ADMITTED).findings())
    [_, written] = plan.pending
    assert isinstance(written, PlanWritten) and not written.published
    assert written.sealed_fields == ("problems",)
    assert plan_contents(written) == contents


def test_a_revision_notes_who_made_it_and_why_in_private() -> None:
    plan = drafted()
    plan.revise(1, [ChangeFrequency("I1", 3)], RevisionReason.PROGRESS,
                note="sleeping better", recorded_by="key-1")
    [revised, written, noted] = plan.pending
    assert isinstance(revised, PlanRevised) and isinstance(written, PlanWritten)
    assert isinstance(noted, RevisionNoted) and noted.sealed_fields == ("note",)
    assert (noted.revision, noted.note, noted.recorded_by) == (2, "sleeping better", "key-1")
    assert noted.changes == [{"change": "change_frequency", "intervention_id": "I1",
                              "modality": "group_therapy", "from": 4, "to": 3}]


def test_an_override_is_confirmed_in_private_with_the_criteria_it_overrode() -> None:
    plan = drafted()
    order = StepDownOrder(date(2027, 1, 20), 7, AFTERCARE, "patient moving; outpatient set up")
    plan.step_down(evaluation(CriterionCode.TIME_IN_PROGRAM), order,
                   Confirmation("c-7", "key-1"))
    [_, confirmed] = plan.pending
    assert isinstance(confirmed, TransitionConfirmed)
    assert (confirmed.clinician_id, confirmed.override_reason, confirmed.overridden_criteria,
            confirmed.recorded_by) == ("c-7", order.override_reason, ["time_in_program"],
                                       "key-1")
    eligible = drafted()
    eligible.step_down(evaluation(), order)
    [_, unneeded] = eligible.pending
    assert isinstance(unneeded, TransitionConfirmed) and unneeded.override_reason is None


def test_rebuilt_from_its_own_events_it_continues_where_it_was() -> None:
    plan = TreatmentPlan("p-1")
    plan.draft("plan-1", "site-a", open_episode(ADMITTED).findings())
    revision = plan.revise(1, [ChangeFrequency("I1", 3)], RevisionReason.PROGRESS)
    rebuilt = TreatmentPlan.rebuild("p-1", plan.pending)
    assert (rebuilt.version, rebuilt.revision, rebuilt.status) == (5, 2, PlanStatus.ACTIVE)
    assert rebuilt.contents == revision.plan
    rebuilt.revise(2, [ChangeFrequency("I2", 2)], RevisionReason.PROGRESS)
    assert rebuilt.revision == 3


def test_a_plan_as_written_that_disagrees_with_its_events_is_never_acted_on() -> None:
    plan = TreatmentPlan("p-1")
    plan.draft("plan-1", "site-a", open_episode(ADMITTED).findings())
    drafted_event, _ = plan.pending
    plan.revise(1, [ChangeFrequency("I1", 3)], RevisionReason.PROGRESS)
    written_at_2 = plan.pending[3]
    with pytest.raises(PlanRecordCorrupt):
        TreatmentPlan.rebuild("p-1", [drafted_event, written_at_2])


def test_a_forgotten_patients_plan_loads_without_its_words() -> None:
    plan = TreatmentPlan("p-1")
    plan.draft("plan-1", "site-a", open_episode(ADMITTED).findings())
    drafted_event, written = plan.pending
    assert isinstance(written, PlanWritten)
    redacted = written.model_copy(update={"problems": None})
    rebuilt = TreatmentPlan.rebuild("p-1", [drafted_event, redacted])
    assert rebuilt.contents is not None and rebuilt.contents.problems == ()
    assert (rebuilt.revision, rebuilt.forgotten) == (1, True)
    assert rebuilt.suggest_family_therapy(
        [FamilyConsent("consent-1", covers_participation=True)], START) is None


def test_a_transfer_moves_the_plans_next_events_to_the_new_site() -> None:
    plan = drafted()
    plan.transfer("site-a")
    assert plan.pending == []
    plan.transfer("site-b")
    [moved] = plan.pending
    assert isinstance(moved, PlanTransferred) and (moved.site_id, moved.from_site_id) == (
        "site-b", "site-a")
    plan.discharge(DischargeOutcome.COMPLETED, date(2027, 2, 9))
    assert plan.pending[1].site_id == "site-b"


def published(plan: TreatmentPlan) -> list[DomainEvent]:
    return [event for event in plan.pending if event.published]


def test_a_step_down_effective_on_a_past_day_needs_a_reason() -> None:
    today = date(2027, 2, 10)
    StepDownOrder(today, 7, AFTERCARE).check_dates(today)
    with pytest.raises(InvalidField) as refused:
        StepDownOrder(today - timedelta(days=2), 7, AFTERCARE).check_dates(today)
    assert refused.value.pointer == "#/backdate_reason"
    StepDownOrder(today - timedelta(days=2), 7, AFTERCARE,
                  backdate_reason="discharged from the group on Monday").check_dates(today)


def test_the_reason_for_a_past_effective_day_is_recorded_with_the_confirmation() -> None:
    plan = drafted()
    plan.step_down(evaluation(), StepDownOrder(date(2027, 1, 20), 7, AFTERCARE,
                                               backdate_reason="recorded late by the front desk"))
    confirmed = [e for e in plan.pending if isinstance(e, TransitionConfirmed)]
    assert [c.backdate_reason for c in confirmed] == ["recorded late by the front desk"]
    assert "backdate_reason" in TransitionConfirmed.sealed_fields
