"""A patient's treatment plan from its draft to the end of the IOP episode: the plans aggregate.

Its stream (``plan-<patient_id>``) is all it is loaded from: the revision numbers,
the interventions and whether the plan is still open. Published events carry codes
only (the catalog's minimum necessary); the plan in full (objectives, what each
intervention addresses, its responsible clinician and target date, the words) is the
private ``PlanWritten`` recorded with each draft and revision, checked against the
published event it follows.

Step-down, step-up and discharge close the plan: no revision after that.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from iopnet.aggregate import Aggregate
from iopnet.catalog import (
    Discharged,
    DischargeOutcome,
    DomainEvent,
    ExitSummarized,
    LevelOfCare,
    PlanDrafted,
    PlannedIntervention,
    PlanRevised,
    ProgressJudged,
    RevisionReason,
    SteppedDown,
    SteppedUp,
)
from iopnet.catalog import Modality as CatalogModality
from iopnet.fields import InvalidField
from services.plans.domain import plan_drafting
from services.plans.domain.as_written import (
    interventions_in_detail,
    plan_contents,
    written_problems,
)
from services.plans.domain.episode import PlanStatus
from services.plans.domain.events import (
    ContinuedStayApproved,
    FamilyTherapySuggested,
    FamilyTherapySuggestionClosed,
    PlanTransferred,
    PlanWritten,
    RevisionNoted,
    TransitionConfirmed,
)
from services.plans.domain.exit_summary import check_follow_up
from services.plans.domain.family import (
    FamilyConsent,
    consent_for_participation,
    family_participation_consented,
)
from services.plans.domain.plan_drafting import (
    AddIntervention,
    AppliedChange,
    Findings,
    FrequencyChanged,
    InterventionAdded,
    InterventionRemoved,
    InvalidPlanInput,
    PlanChange,
    PlanRevision,
)
from services.plans.domain.plan_drafting import TreatmentPlan as PlanContents
from services.plans.domain.progress import REMISSION_BELOW, Measure, responded, trend
from services.plans.domain.safety_plan import SafetyPlanCheck
from services.plans.domain.step_down import CriterionCode, StepDownEvaluation, StepUpReasonCode

#: The most weeks one continued stay adds; another needs another decision.
MAX_WEEKS_ADDED = 12
STEP_UP_LEVELS = (LevelOfCare.PARTIAL_HOSPITALIZATION, LevelOfCare.INPATIENT)
#: Criteria a clinician may not override: stepping down past a recent risk signal.
NOT_OVERRIDABLE = frozenset({CriterionCode.NO_RISK_SIGNALS})


class AftercareItem(StrEnum):
    """What the aftercare / relapse-prevention plan of a step-down includes."""

    WEEKLY_OUTPATIENT_THERAPY = "weekly_outpatient_therapy"
    RELAPSE_PREVENTION_PLAN = "relapse_prevention_plan"
    CRISIS_LINE = "crisis_line"
    MEDICATION_REVIEW = "medication_review"
    SUPPORT_GROUP = "support_group"
    FAMILY_FOLLOW_UP = "family_follow_up"


class PlanRuleBroken(Exception):
    """A command the plan's current state does not allow (409)."""


class PlanClosed(PlanRuleBroken):
    def __init__(self, status: PlanStatus) -> None:
        super().__init__(f"the plan is closed ({status.value}): no further changes")
        self.status = status


class StaleRevision(Exception):
    """The caller revised a revision that is no longer the current one."""

    def __init__(self, expected: int, current: int) -> None:
        super().__init__(f"the plan is at revision {current}, not {expected}")
        self.expected = expected
        self.current = current


class StepDownNotAllowed(PlanRuleBroken):
    """The site's step-down criteria are not met (and no allowed override was given)."""

    def __init__(self, evaluation: StepDownEvaluation, detail: str) -> None:
        super().__init__(detail)
        self.evaluation = evaluation


class SafetyPlanNeeded(PlanRuleBroken):
    """Risk was found and the safety plan is missing, or older than the latest finding:
    no step-down or completed discharge until intake records or reviews it."""

    def __init__(self, check: SafetyPlanCheck) -> None:
        super().__init__(check.needed)
        self.check = check


#: The check when risk was never found: nothing holds a transition back.
NO_RISK_FOUND = SafetyPlanCheck(last_finding_on=None, recorded_on=None, last_reviewed_on=None)


class PlanRecordCorrupt(RuntimeError):
    """The plan as written disagrees with its published events: never act on it."""


@dataclass(frozen=True)
class StepDownOrder:
    effective_on: date
    follow_up_within_days: int
    aftercare: tuple[AftercareItem, ...]
    override_reason: str | None = None
    #: Why the step-down takes effect on a day already past (required then).
    backdate_reason: str | None = None

    def check_dates(self, today: date) -> None:
        """A step-down is judged on everything known today; a past effective day changes
        when it took effect, never what was known, and needs a reason on the record."""
        if self.effective_on < today and not self.backdate_reason:
            raise InvalidField("backdate_reason", f"effective_on {self.effective_on} is before"
                               f" today ({today}) at the site: say why")


@dataclass(frozen=True)
class ClinicalDecision:
    """A clinician's decision and their reason, through which key."""

    clinician_id: str
    reason: str
    recorded_by: str | None = None


@dataclass(frozen=True)
class Confirmation:
    """Who confirms a step-down, step-up or discharge: the clinician, through which key."""

    clinician_id: str | None = None
    recorded_by: str | None = None


class TreatmentPlan(Aggregate):
    """One patient's treatment plan, rebuilt from its own events."""

    stream_prefix = "plan"

    def __init__(self, patient_id: str) -> None:
        super().__init__(patient_id)
        self.site_id = ""
        self.plan_id = ""
        self.status = PlanStatus.AWAITING_DRAFT
        self.revision = 0
        self.interventions: tuple[PlannedIntervention, ...] = ()
        self.contents: PlanContents | None = None
        #: The patient was forgotten: the plan's words are gone, nothing follows consent.
        self.forgotten = False
        #: Weeks continued stays added beyond the admission's planned weeks.
        self.weeks_added = 0
        #: The family therapy suggestion awaiting the clinician, if any.
        self.open_suggestion: str | None = None
        #: The PHQ-9 measures judged already (ProgressJudged).
        self.judged: set[str] = set()

    @property
    def patient_id(self) -> str:
        return self.id

    # --- Commands ---------------------------------------------------------------------

    def draft(self, plan_id: str, site_id: str, findings: Findings) -> PlanContents:
        if self.status is not PlanStatus.AWAITING_DRAFT:
            raise PlanRuleBroken("the plan has already been drafted")
        contents = plan_drafting.draft_plan(findings)
        self.record(PlanDrafted(
            patient_id=self.id, site_id=site_id, plan_id=plan_id, revision=contents.revision,
            problem_codes=[p.code.value for p in contents.problems],
            interventions=list(_planned(contents)), target_date=contents.target_date,
            clinician_id=contents.clinician_id,
        ))
        self.record(self.as_written(contents))
        return contents

    def revise(self, expected_revision: int, changes: Sequence[PlanChange],
               reason: RevisionReason, *, note: str | None = None,
               recorded_by: str | None = None, participation_consented: bool = False
               ) -> PlanRevision:
        """A new revision, only over the revision the caller read (else StaleRevision).
        Family therapy comes in only while a live consent covers family participation."""
        contents = self._open_contents()
        if expected_revision != self.revision:
            raise StaleRevision(expected_revision, self.revision)
        if not participation_consented and any(_adds_family_therapy(c) for c in changes):
            raise PlanRuleBroken("family therapy needs a live consent covering family "
                                 "participation")
        revision = plan_drafting.revise(contents, changes, reason.value)
        self.record(PlanRevised(
            patient_id=self.id, site_id=self.site_id, plan_id=self.plan_id,
            revision=revision.plan.revision, changes=[change_code(c) for c in revision.changes],
            reason=reason, interventions=list(_planned(revision.plan)),
        ))
        self.record(self.as_written(revision.plan))
        self.record(RevisionNoted(
            patient_id=self.id, site_id=self.site_id, revision=revision.plan.revision,
            note=note, recorded_by=recorded_by,
            changes=[change_view(c) for c in revision.changes],
        ))
        return revision

    def transfer(self, site_id: str) -> None:
        """The patient's care moved to another site: the plan's next events are its."""
        if self.status is PlanStatus.AWAITING_DRAFT or site_id == self.site_id:
            return
        self.record(PlanTransferred(patient_id=self.id, site_id=site_id,
                                    from_site_id=self.site_id))

    def suggest_family_therapy(self, consents: Iterable[FamilyConsent], day: date
                               ) -> FamilyTherapySuggested | None:
        """A consent covering family participation is live: offer family therapy to the
        clinician (FamilyTherapySuggested). Consent is not an indication, so nothing is
        planned. Nothing when the plan has family therapy or a suggestion is open, when
        no such consent is live, or when there is no open plan (a consent before the
        admission waits for the draft, which asks again)."""
        consent_id = consent_for_participation(consents, day)
        if (consent_id is None or not self._follows_family()
                or self.open_suggestion is not None or self._has_family_therapy()):
            return None
        suggested = FamilyTherapySuggested(
            patient_id=self.id, site_id=self.site_id, consent_id=consent_id,
            suggestion_id=str(uuid.uuid5(uuid.NAMESPACE_URL,
                                         f"iopnet:suggestion:{self.plan_id}:{consent_id}")))
        self.record(suggested)
        return suggested

    def accept_family_therapy(self, suggestion_id: str, consents: Iterable[FamilyConsent],
                              day: date, decision: ClinicalDecision) -> PlanRevision:
        """The clinician accepts the suggestion: a revision adding weekly family therapy,
        with the clinician and their reason recorded. Refused once no live consent covers
        family participation, or when the suggestion is not the open one."""
        if self.open_suggestion != suggestion_id:
            raise PlanRuleBroken(f"no open suggestion {suggestion_id}")
        if not family_participation_consented(consents, day):
            raise PlanRuleBroken("no live consent covers family participation")
        contents = self._open_contents()
        revision = self.revise(self.revision, plan_drafting.involving_family(contents),
                               RevisionReason.CLINICAL_JUDGEMENT, note=decision.reason,
                               recorded_by=decision.recorded_by, participation_consented=True)
        self.record(FamilyTherapySuggestionClosed(
            patient_id=self.id, site_id=self.site_id, suggestion_id=suggestion_id,
            outcome="accepted", revision=revision.plan.revision,
            clinician_id=decision.clinician_id, reason=decision.reason,
            recorded_by=decision.recorded_by))
        return revision

    def withdraw_family(self, consents: Iterable[FamilyConsent], day: date
                        ) -> PlanRevision | None:
        """A consent ended: once none live covers family participation, an open suggestion
        lapses and family therapy leaves the plan at once, whoever planned it."""
        if family_participation_consented(consents, day) or not self._follows_family():
            return None
        if self.open_suggestion is not None:
            self.record(FamilyTherapySuggestionClosed(
                patient_id=self.id, site_id=self.site_id, suggestion_id=self.open_suggestion,
                outcome="lapsed"))
        assert self.contents is not None
        changes = plan_drafting.withdrawing_family(self.contents)
        if not changes:
            return None
        # Over the current revision: a clinician holding an older ETag gets 412, as designed.
        return self.revise(self.revision, changes, RevisionReason.FAMILY_CONSENT)

    def judge_progress(self, measure_id: str, measure: Measure, baseline_phq9: int
                       ) -> ProgressJudged | None:
        """A PHQ-9 measured in the program, against the baseline: published
        (ProgressJudged), the one "improving" others use. Once per measure; none before
        the draft (which judges what came before it) or once the patient is forgotten."""
        if (measure.instrument != "phq9" or measure_id in self.judged
                or self.contents is None or self.forgotten):
            return None
        judged = ProgressJudged(
            patient_id=self.id, site_id=self.site_id, measure_id=measure_id,
            measured_on=measure.measured_on, program_week=measure.program_week,
            baseline_phq9=baseline_phq9, total=measure.total,
            trend=trend(baseline_phq9, measure.total),
            response=responded(baseline_phq9, measure.total),
            remission=measure.total < REMISSION_BELOW)
        self.record(judged)
        return judged

    def _follows_family(self) -> bool:
        return (self.status is PlanStatus.ACTIVE and self.contents is not None
                and not self.forgotten)

    def _has_family_therapy(self) -> bool:
        return any(i.modality is CatalogModality.FAMILY_THERAPY for i in self.interventions)

    def continue_stay(self, weeks: int, planned_end: date, decision: ClinicalDecision
                      ) -> ContinuedStayApproved:
        """Extend the stay beyond the planned weeks: the clinician and their reason are
        recorded (ContinuedStayApproved). ``planned_end`` is the admission's planned end;
        earlier extensions count on top of it."""
        self._open_contents()
        if not 1 <= weeks <= MAX_WEEKS_ADDED:
            raise InvalidPlanInput("weeks", f"an extension adds 1 to {MAX_WEEKS_ADDED} weeks")
        if not decision.clinician_id.strip() or not decision.reason.strip():
            raise InvalidPlanInput("reason", "a continued stay needs the clinician and a reason")
        approved = ContinuedStayApproved(
            patient_id=self.id, site_id=self.site_id, plan_id=self.plan_id, weeks_added=weeks,
            planned_end=planned_end + timedelta(weeks=self.weeks_added + weeks),
            clinician_id=decision.clinician_id, reason=decision.reason,
            recorded_by=decision.recorded_by)
        self.record(approved)
        return approved

    def step_down(self, evaluation: StepDownEvaluation, order: StepDownOrder,
                  confirmation: Confirmation = Confirmation(), *,
                  safety_plan: SafetyPlanCheck = NO_RISK_FOUND) -> None:
        """To standard outpatient, when the criteria are met or a clinician overrides them,
        and, when risk was ever found, the safety plan reviewed since the latest finding
        (never overridable)."""
        contents = self._open_contents()
        self._check_effective(order.effective_on, contents)
        unmet = set(evaluation.unmet)
        if unmet & NOT_OVERRIDABLE:
            raise StepDownNotAllowed(evaluation, "a risk signal in the evaluation period: "
                                     "step-down cannot be overridden past it")
        if unmet and not order.override_reason:
            codes = ", ".join(sorted(unmet))
            raise StepDownNotAllowed(evaluation, f"step-down criteria not met: {codes}")
        _require_safety_plan(safety_plan)
        if not order.aftercare:
            raise PlanRuleBroken("a step-down needs an aftercare plan")
        check_follow_up(order.follow_up_within_days)
        self.record(SteppedDown(
            patient_id=self.id, site_id=self.site_id, to_level=LevelOfCare.STANDARD_OUTPATIENT,
            effective_on=order.effective_on,
            aftercare=[a.value for a in dict.fromkeys(order.aftercare)],
            follow_up_within_days=order.follow_up_within_days,
        ))
        overridden = [c.value for c in evaluation.unmet]
        self._confirmed(confirmation, order.override_reason if overridden else None, overridden,
                        backdate_reason=order.backdate_reason)

    def step_up(self, to_level: LevelOfCare, reason_codes: Sequence[StepUpReasonCode],
                effective_on: date, confirmation: Confirmation = Confirmation()) -> None:
        contents = self._open_contents()
        self._check_effective(effective_on, contents)
        if to_level not in STEP_UP_LEVELS:
            raise PlanRuleBroken(f"a step-up goes to {' or '.join(STEP_UP_LEVELS)}")
        if not reason_codes:
            raise PlanRuleBroken("a step-up needs at least one reason")
        self.record(SteppedUp(
            patient_id=self.id, site_id=self.site_id, to_level=to_level,
            effective_on=effective_on, reason_codes=[c.value for c in dict.fromkeys(reason_codes)],
        ))
        self._confirmed(confirmation)

    def discharge(self, outcome: DischargeOutcome, effective_on: date,
                  confirmation: Confirmation = Confirmation(), *,
                  safety_plan: SafetyPlanCheck = NO_RISK_FOUND) -> None:
        """Completed (the safety plan reviewed since the latest risk finding, if any),
        left against advice or transferred out (never held back: safety first)."""
        contents = self._open_contents()
        self._check_effective(effective_on, contents)
        if outcome is DischargeOutcome.COMPLETED:
            _require_safety_plan(safety_plan)
        self.record(Discharged(patient_id=self.id, site_id=self.site_id, outcome=outcome,
                               effective_on=effective_on))
        self._confirmed(confirmation)

    def summarize_exit(self, summary: ExitSummarized) -> ExitSummarized:
        """The summary of the exit just recorded (published: notifications alerts on
        ``urgent_alert``, sends the aftercare)."""
        if not self.status.closed:
            raise PlanRuleBroken("an exit is summarized once the plan is closed")
        summarized = summary.model_copy(update={"patient_id": self.id,
                                                "site_id": self.site_id})
        self.record(summarized)
        return summarized

    def _confirmed(self, confirmation: Confirmation, override_reason: str | None = None,
                   overridden: Sequence[str] = (), *, backdate_reason: str | None = None
                   ) -> None:
        self.record(TransitionConfirmed(
            patient_id=self.id, site_id=self.site_id, clinician_id=confirmation.clinician_id,
            override_reason=override_reason, overridden_criteria=list(overridden),
            recorded_by=confirmation.recorded_by, backdate_reason=backdate_reason,
        ))

    def as_written(self, contents: PlanContents) -> PlanWritten:
        """The plan in full at a revision, as the private event records it."""
        return PlanWritten(
            patient_id=self.id, site_id=self.site_id, plan_id=self.plan_id,
            revision=contents.revision, start_date=contents.start_date,
            target_date=contents.target_date, clinician_id=contents.clinician_id,
            problems=written_problems(contents),
            interventions=interventions_in_detail(contents),
            last_intervention_number=contents.last_intervention_number,
        )

    def _open_contents(self) -> PlanContents:
        if self.status.closed:
            raise PlanClosed(self.status)
        if self.contents is None:
            raise PlanRuleBroken("the plan has not been drafted yet")
        return self.contents

    @staticmethod
    def _check_effective(effective_on: date, contents: PlanContents) -> None:
        if effective_on < contents.start_date:
            raise PlanRuleBroken(f"effective_on {effective_on} is before the program started "
                                 f"({contents.start_date})")

    # --- Events -----------------------------------------------------------------------

    def apply(self, event: DomainEvent) -> None:
        match event:
            case PlanDrafted():
                self.site_id = event.site_id
                self.plan_id = event.plan_id
                self.status = PlanStatus.ACTIVE
                self.revision = event.revision
                self.interventions = tuple(event.interventions)
            case PlanRevised():
                self.revision = event.revision
                self.interventions = tuple(event.interventions)
            case SteppedDown():
                self.status = PlanStatus.STEPPED_DOWN
            case SteppedUp():
                self.status = PlanStatus.STEPPED_UP
            case Discharged():
                self.status = PlanStatus.DISCHARGED
            case PlanWritten():
                self.contents = self._checked(plan_contents(event))
                self.forgotten = event.problems is None
            case PlanTransferred():
                self.site_id = event.site_id
            case ContinuedStayApproved():
                self.weeks_added += event.weeks_added
            case FamilyTherapySuggested():
                self.open_suggestion = event.suggestion_id
            case FamilyTherapySuggestionClosed():
                self.open_suggestion = None
            case ProgressJudged():
                self.judged.add(event.measure_id)

    def _checked(self, contents: PlanContents) -> PlanContents:
        if contents.revision != self.revision or _planned(contents) != self.interventions:
            raise PlanRecordCorrupt(f"plan {self.plan_id}: as written, it disagrees with "
                                    f"its revision {self.revision}")
        return contents


def _require_safety_plan(check: SafetyPlanCheck) -> None:
    if not check.allows_less_care:
        raise SafetyPlanNeeded(check)


def _adds_family_therapy(change: PlanChange) -> bool:
    return (isinstance(change, AddIntervention)
            and change.modality == plan_drafting.Modality.FAMILY_THERAPY)


def change_view(change: AppliedChange) -> dict[str, object]:
    """One applied change as the revision history shows it."""
    match change:
        case InterventionAdded():
            added = change.intervention
            return {"change": "add_intervention", "intervention_id": added.id,
                    "modality": added.modality.value,
                    "sessions_per_week": added.sessions_per_week,
                    "addresses": list(added.addresses), "clinician_id": added.clinician_id,
                    "target_date": added.target_date.isoformat()}
        case InterventionRemoved():
            removed = change.intervention
            return {"change": "remove_intervention", "intervention_id": removed.id,
                    "modality": removed.modality.value}
        case FrequencyChanged():
            return {"change": "change_frequency", "intervention_id": change.intervention_id,
                    "modality": change.modality.value, "from": change.before, "to": change.after}
    raise TypeError(change)


def change_code(change: AppliedChange) -> str:
    """The catalog's change codes: added:I7, removed:I3, frequency:I2:3->2."""
    match change:
        case InterventionAdded():
            return f"added:{change.intervention.id}"
        case InterventionRemoved():
            return f"removed:{change.intervention.id}"
        case FrequencyChanged():
            return f"frequency:{change.intervention_id}:{change.before}->{change.after}"
    raise TypeError(change)


def _planned(contents: PlanContents) -> tuple[PlannedIntervention, ...]:
    return tuple(
        PlannedIntervention(intervention_id=i.id, modality=CatalogModality(i.modality.value),
                            sessions_per_week=i.sessions_per_week)
        for i in contents.interventions
    )
