"""Plans' use cases, one function each: routes and consumer reactions call these, and only these.

Each runs in one unit of work: the plan is loaded from its own stream, changed by
its commands, and saved with its events projected in the same transaction. A
route's handler reads the patient's care episode first, once and locked, so two
requests about one plan run one after the other and the second sees the first.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from iopnet.auth.registry import site_date
from iopnet.catalog import DischargeOutcome, LevelOfCare, RevisionReason
from iopnet.db import Connection
from iopnet.eventstore import Cause, EventStore
from iopnet.fields import InvalidField
from iopnet.problems import Problem, not_found
from iopnet.unit_of_work import UnitOfWork
from services.plans import store
from services.plans.domain import (
    CareEpisode,
    ClinicalDecision,
    Confirmation,
    ContinuedStayApproved,
    InvalidPlanInput,
    SafetyPlanCheck,
    SafetyPlanNeeded,
    StepDownNotAllowed,
    StepDownOrder,
    TreatmentPlan,
    family_participation_consented,
)
from services.plans.domain import progress as course
from services.plans.domain.exit_summary import check_follow_up, summarize_exit
from services.plans.domain.plan_drafting import PlanChange, PlanRevision
from services.plans.domain.step_down import StepDownEvaluation, StepUpReasonCode
from services.plans.projections import project_plan

EVENTS = EventStore.of("plans")
log = logging.getLogger(__name__)


def unit_of_work(conn: Connection, cause: Cause, events: EventStore = EVENTS) -> UnitOfWork:
    """Plans' unit of work: its own events are projected as they are recorded."""
    return UnitOfWork(conn, events, cause, project=project_plan)


# --- Following others' events ----------------------------------------------------------------


async def draft_plan(uow: UnitOfWork, patient_id: str, admission_id: str,
                     admitted_at: datetime) -> TreatmentPlan | None:
    """The first plan for the episode the admission opened (PlanDrafted); None when the plan
    exists already (a second admission changes nothing) or cannot be drafted."""
    row = await store.find_episode(uow.conn, patient_id)
    if row is None or await uow.load(TreatmentPlan, patient_id) is not None:
        return None
    episode = store.episode_of(row)
    plan = TreatmentPlan(patient_id)
    # A plan id derived from the admission: replaying the admission drafts the same plan.
    plan_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"iopnet:plan:{admission_id}"))
    try:
        plan.draft(plan_id, episode.site_id, episode.findings())
    except InvalidPlanInput as invalid:
        # The episode stays visible, awaiting a draft, rather than the admission being lost.
        log.error("no plan drafted for an admission: %s", invalid.field)
        return None
    # Family's topic is not ordered with intake's: a consent may already be here.
    consents = await store.family_consents(uow.conn, patient_id)
    plan.suggest_family_therapy(consents, await site_date(uow.conn, episode.site_id,
                                                          admitted_at))
    await _judge_progress(uow, plan, episode)  # a measure may have come first, too
    await uow.save(plan)
    return plan


async def judge_progress(uow: UnitOfWork, patient_id: str) -> None:
    """Sessions measured a PHQ-9: plans judges it against the baseline (ProgressJudged,
    published), with any measure not judged yet. No plan yet: the draft judges them."""
    row = await store.find_episode(uow.conn, patient_id, for_update=True)
    plan = await uow.load(TreatmentPlan, patient_id) if row is not None else None
    if row is None or plan is None:
        return
    await _judge_progress(uow, plan, store.episode_of(row))
    await uow.save(plan)


async def _judge_progress(uow: UnitOfWork, plan: TreatmentPlan, episode: CareEpisode) -> None:
    for measure_id, measure in await store.phq9_measures(uow.conn, plan.id):
        plan.judge_progress(measure_id, measure, episode.baseline_phq9)


async def follow_family_consent(uow: UnitOfWork, patient_id: str, at: datetime, *,
                                granted: bool) -> None:
    """A consent covering family participation granted: family therapy is suggested to the
    clinician (never planned). The end of the last such consent lapses the suggestion and
    takes family therapy out (PlanRevised, reason family_consent). No plan yet: the draft
    reads the consents."""
    plan = await _locked_plan(uow, patient_id)
    if plan is None:
        return
    day = await site_date(uow.conn, plan.site_id, at)
    consents = await store.family_consents(uow.conn, patient_id)
    if granted:
        plan.suggest_family_therapy(consents, day)
    else:
        plan.withdraw_family(consents, day)
    await uow.save(plan)


async def follow_transfer(uow: UnitOfWork, patient_id: str, site_id: str) -> None:
    """The patient's care moved to another site: so does the plan (PlanTransferred)."""
    plan = await _locked_plan(uow, patient_id)
    if plan is not None:
        plan.transfer(site_id)
        await uow.save(plan)


async def _locked_plan(uow: UnitOfWork, patient_id: str) -> TreatmentPlan | None:
    """The plan, after its episode's lock: a clinician's revision waits for this one and
    then sees it (412 for an older ETag), or this one waits for the clinician's."""
    if await store.find_episode(uow.conn, patient_id, for_update=True) is None:
        return None
    return await uow.load(TreatmentPlan, patient_id)


# --- A clinician's commands ----------------------------------------------------------------


@dataclass(frozen=True)
class PlanRevisionOrder:
    patient_id: str
    expected_revisions: frozenset[int]
    """The revisions the caller's If-Match names; the plan must be at one of them."""
    changes: Sequence[PlanChange]
    reason: RevisionReason
    note: str | None
    recorded_by: str


@dataclass(frozen=True)
class StepDownCommand:
    patient_id: str
    order: StepDownOrder
    as_of: date | None
    confirmation: Confirmation


@dataclass(frozen=True)
class StepUpCommand:
    patient_id: str
    to_level: LevelOfCare
    reason_codes: Sequence[StepUpReasonCode]
    effective_on: date
    confirmation: Confirmation


@dataclass(frozen=True)
class DischargeCommand:
    patient_id: str
    outcome: DischargeOutcome
    effective_on: date
    confirmation: Confirmation
    follow_up_within_days: int | None = None


@dataclass(frozen=True)
class Transition:
    """Where care went: the plan, and the transition as plans' history shows it."""

    plan: TreatmentPlan
    row: dict[str, Any]


@dataclass(frozen=True)
class SteppedDownResult:
    transition: Transition
    as_of: date
    evaluation: StepDownEvaluation


async def revise_plan(uow: UnitOfWork, order: PlanRevisionOrder
                      ) -> tuple[TreatmentPlan, PlanRevision]:
    """A new revision over the one the caller read (StaleRevision otherwise, never merged)."""
    await _episode(uow, order.patient_id)
    plan = await _drafted_plan(uow, order.patient_id)
    # A list of tags matches when any names the current revision (RFC 9110).
    expected = (plan.revision if plan.revision in order.expected_revisions
                else min(order.expected_revisions))
    consents = await store.family_consents(uow.conn, order.patient_id)
    revised = plan.revise(expected, order.changes, order.reason, note=order.note,
                          recorded_by=order.recorded_by,
                          participation_consented=family_participation_consented(
                              consents, await site_date(uow.conn, plan.site_id)))
    await uow.save(plan)
    return plan, revised


async def accept_family_therapy(uow: UnitOfWork, patient_id: str, suggestion_id: str,
                                decision: ClinicalDecision) -> tuple[TreatmentPlan,
                                                                     PlanRevision]:
    """The clinician accepts plans' suggestion of family therapy: a revision, with the
    clinician and their reason (409 once no live consent covers participation)."""
    await _episode(uow, patient_id)
    plan = await _drafted_plan(uow, patient_id)
    consents = await store.family_consents(uow.conn, patient_id)
    revised = plan.accept_family_therapy(suggestion_id, consents,
                                         await site_date(uow.conn, plan.site_id), decision)
    await uow.save(plan)
    return plan, revised


async def continue_stay(uow: UnitOfWork, patient_id: str, weeks: int,
                        decision: ClinicalDecision) -> ContinuedStayApproved:
    """The clinician extends the stay beyond the planned weeks, with a reason (recorded)."""
    episode = await _episode(uow, patient_id)
    plan = await _drafted_plan(uow, patient_id)
    approved = plan.continue_stay(weeks, episode.planned_end, decision)
    await uow.save(plan)
    return approved


async def step_down(uow: UnitOfWork, command: StepDownCommand) -> SteppedDownResult:
    """To standard outpatient, when the site's criteria are met today or a clinician
    overrides them (409 with every criterion otherwise).

    Judged on everything known at the time of the request: evaluating as of an earlier
    day would hide risk signals recorded since, and risk signals cannot be overridden.
    """
    episode = await _episode(uow, command.patient_id)
    plan = await _drafted_plan(uow, command.patient_id)
    site = await store.site_rules(uow.conn, episode.site_id)
    day = site.today()
    if command.as_of is not None and command.as_of != day:
        raise InvalidField("as_of", f"a step-down is evaluated on what is known today ({day});"
                           " GET the step-down evaluation to look at another day")
    command.order.check_dates(day)
    check_as_of(day, episode, "#/as_of")
    record = await store.load_progress(uow.conn, episode)
    evaluation = course.evaluate(record, site.step_down, day)
    safety_plan = await store.check_safety_plan(uow.conn, record, episode.patient_id, day)
    try:
        plan.step_down(evaluation, command.order, command.confirmation,
                       safety_plan=safety_plan)
    except StepDownNotAllowed as refused:
        raise Problem(409, "step-down-criteria-unmet", "Step-down criteria are not met",
                      str(refused), as_of=day.isoformat(),
                      **evaluation_view(refused.evaluation),
                      safety_plan=safety_plan_view(safety_plan)) from refused
    except SafetyPlanNeeded as refused:
        raise _safety_plan_needed(refused, day) from refused
    await _summarize(uow, plan, episode, "stepped_down", command.order.effective_on,
                     command.order.follow_up_within_days, safety_plan)
    return SteppedDownResult(await _closed(uow, plan), day, evaluation)


async def step_up(uow: UnitOfWork, command: StepUpCommand) -> Transition:
    """To partial hospitalization or inpatient care, when risk rises; closes the plan."""
    episode = await _episode(uow, command.patient_id)
    plan = await _drafted_plan(uow, command.patient_id)
    plan.step_up(command.to_level, command.reason_codes, command.effective_on,
                 command.confirmation)
    await _summarize(uow, plan, episode, "stepped_up", command.effective_on, None,
                     await _safety_plan(uow, episode, await site_date(uow.conn,
                                                                      episode.site_id)))
    return await _closed(uow, plan)


async def discharge(uow: UnitOfWork, command: DischargeCommand) -> Transition:
    """Completed, left against advice, or transferred out; closes the plan. A completed
    discharge after a risk finding needs the safety plan reviewed since (409 otherwise);
    the other exits are never held back by it."""
    episode = await _episode(uow, command.patient_id)
    plan = await _drafted_plan(uow, command.patient_id)
    # Transferred out, the receiving program follows up; otherwise aftercare does.
    follow_up = (None if command.outcome is DischargeOutcome.TRANSFERRED
                 else check_follow_up(command.follow_up_within_days))
    day = await site_date(uow.conn, episode.site_id)
    safety_plan = await _safety_plan(uow, episode, day)
    try:
        plan.discharge(command.outcome, command.effective_on, command.confirmation,
                       safety_plan=safety_plan)
    except SafetyPlanNeeded as refused:
        raise _safety_plan_needed(refused, day) from refused
    await _summarize(uow, plan, episode, "discharged", command.effective_on, follow_up,
                     safety_plan, command.outcome)
    return await _closed(uow, plan)


async def _summarize(uow: UnitOfWork, plan: TreatmentPlan, episode: CareEpisode,
                     exit_kind: str, effective_on: date, follow_up: int | None,
                     safety_plan: SafetyPlanCheck,
                     outcome: DischargeOutcome | None = None) -> None:
    """Every exit records its summary (ExitSummarized), in the same unit of work."""
    record = await store.load_progress(uow.conn, episode)
    plan.summarize_exit(summarize_exit(record, exit_kind, effective_on,
                                       follow_up_within_days=follow_up,
                                       safety_plan=safety_plan, outcome=outcome))


async def _safety_plan(uow: UnitOfWork, episode: CareEpisode, today: date
                       ) -> SafetyPlanCheck:
    """The safety plan against every risk finding known today at the site."""
    record = await store.load_progress(uow.conn, episode)
    return await store.check_safety_plan(uow.conn, record, episode.patient_id, today)


def _safety_plan_needed(refused: SafetyPlanNeeded, day: date) -> Problem:
    return Problem(409, "safety-plan-required", "A safety plan reviewed since the latest "
                   "risk finding is required first", str(refused), as_of=day.isoformat(),
                   safety_plan=safety_plan_view(refused.check))


async def _episode(uow: UnitOfWork, patient_id: str) -> CareEpisode:
    """The patient's episode, if the caller's site can see it; locked for this unit."""
    row = await store.find_episode(uow.conn, patient_id, for_update=True)
    if row is None:
        raise not_found("patient", patient_id)
    return store.episode_of(row)


async def _drafted_plan(uow: UnitOfWork, patient_id: str) -> TreatmentPlan:
    plan = await uow.load(TreatmentPlan, patient_id)
    if plan is None or plan.contents is None:
        raise not_found("plan", patient_id)
    return plan


async def _closed(uow: UnitOfWork, plan: TreatmentPlan) -> Transition:
    await uow.save(plan)
    row = await store.find_transition(uow.conn, plan.id)
    assert row is not None
    return Transition(plan, row)


# --- Rules the routes share --------------------------------------------------------------


def check_as_of(as_of: date, episode: CareEpisode, pointer: str) -> None:
    if as_of < episode.starts_on:
        raise Problem(422, "validation", "The date is before the admission",
                      f"as_of {as_of} is before the program started on {episode.starts_on}",
                      errors=[{"pointer": pointer}])


def safety_plan_view(check: SafetyPlanCheck) -> dict[str, Any]:
    """The safety plan at a transition: required (risk was found), recorded, and reviewed
    since the latest finding, which a step-down or a completed discharge needs."""
    return {
        "required": check.risk_found, "status": check.status.value,
        "last_risk_finding_on": _iso(check.last_finding_on),
        "recorded_on": _iso(check.recorded_on), "last_reviewed_on": _iso(check.last_reviewed_on),
        "reviewed_since_last_finding": check.reviewed_since_last_finding,
        "allows_step_down_or_discharge": check.allows_less_care, "needed": check.needed,
    }


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def evaluation_view(evaluation: StepDownEvaluation) -> dict[str, Any]:
    return {
        "eligible": evaluation.eligible,
        "unmet": [c.value for c in evaluation.unmet],
        "criteria": [{"code": c.code.value, "met": c.met, "detail": c.detail}
                     for c in evaluation.criteria],
    }
