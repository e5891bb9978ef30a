"""Plans' private events: what plans records beside its published events and never publishes.

The published ``PlanDrafted`` / ``PlanRevised`` carry codes only. The plan as written
(its problems, goals and objectives in words, each intervention's clinician, target
date and objectives) is ``PlanWritten``, recorded with each of them; a clinician's
note on a revision is ``RevisionNoted``; who confirmed a step-down, step-up or
discharge, and why criteria were overridden, is ``TransitionConfirmed``. The words
and the notes are the patient's personal data: sealed with the patient's data key,
they read as None once the patient is forgotten.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from pydantic import Field

from iopnet.catalog import EventPart, Modality, PrivatePatientEvent


class WrittenObjective(EventPart):
    objective_id: str
    text: str
    target_date: date


class WrittenGoal(EventPart):
    goal_id: str
    text: str
    objectives: list[WrittenObjective]


class WrittenProblem(EventPart):
    problem_id: str
    code: str
    text: str
    goals: list[WrittenGoal]


class InterventionDetail(EventPart):
    intervention_id: str
    modality: Modality
    sessions_per_week: int
    clinician_id: str
    target_date: date
    addresses: list[str]
    """The ids of the objectives it works toward."""


class PlanWritten(PrivatePatientEvent):
    """The plan as it stands at ``revision``, in full; recorded with each draft and revision."""

    sealed_fields: ClassVar[tuple[str, ...]] = ("problems",)

    plan_id: str
    revision: int
    start_date: date
    target_date: date
    clinician_id: str
    problems: list[WrittenProblem] | None
    """None once the patient is forgotten."""
    interventions: list[InterventionDetail]
    last_intervention_number: int


class RevisionNoted(PrivatePatientEvent):
    """Who revised the plan (the API key; None: plans itself), the note, what changed."""

    sealed_fields: ClassVar[tuple[str, ...]] = ("note",)

    revision: int
    note: str | None = None
    recorded_by: str | None = None
    changes: list[dict[str, Any]]
    """Each applied change as the revision history shows it."""


class TransitionConfirmed(PrivatePatientEvent):
    """Who confirmed a step-down, step-up or discharge, and the criteria they overrode."""

    sealed_fields: ClassVar[tuple[str, ...]] = ("override_reason", "backdate_reason")

    clinician_id: str | None = None
    override_reason: str | None = None
    overridden_criteria: list[str] = Field(default_factory=list)
    recorded_by: str | None = None
    #: Why a step-down took effect on a day already past when it was recorded.
    backdate_reason: str | None = None


class PlanTransferred(PrivatePatientEvent):
    """The patient's care, and so the plan, moved to ``site_id``."""

    from_site_id: str


class FamilyTherapySuggested(PrivatePatientEvent):
    """A live consent now covers family participation: family therapy is offered to the
    clinician, who decides. Consent is not an indication, so nothing is planned yet."""

    suggestion_id: str
    consent_id: str


class FamilyTherapySuggestionClosed(PrivatePatientEvent):
    """The suggestion was decided or lapsed: ``accepted`` by a clinician (the revision
    that added family therapy, with their reason sealed), or ``lapsed`` when the last
    consent covering participation ended first."""

    sealed_fields: ClassVar[tuple[str, ...]] = ("reason",)

    suggestion_id: str
    outcome: str
    """accepted | lapsed"""
    revision: int | None = None
    clinician_id: str | None = None
    reason: str | None = None
    recorded_by: str | None = None


class ContinuedStayApproved(PrivatePatientEvent):
    """A clinician extended the stay beyond the planned weeks, with their reason (sealed)."""

    sealed_fields: ClassVar[tuple[str, ...]] = ("reason",)

    plan_id: str
    weeks_added: int = Field(ge=1, le=12)
    planned_end: date
    """The day after the last program day, as extended."""
    clinician_id: str
    reason: str | None
    """None once the patient is forgotten."""
    recorded_by: str | None = None
