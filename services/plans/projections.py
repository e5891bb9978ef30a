"""Plans' own events into its tables, in the transaction that records them.

The published event writes what it says (the revision in the history, the
transition, where the plan stands); the private event recorded with it adds what
only plans knows (the plan in full, the note, who confirmed). A rebuild replays
both, in stream order.
"""

from __future__ import annotations

from iopnet.catalog import (
    Discharged,
    DomainEvent,
    ExitSummarized,
    PlanDrafted,
    PlanRevised,
    SteppedDown,
    SteppedUp,
)
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from services.plans import store
from services.plans.domain import (
    ContinuedStayApproved,
    FamilyTherapySuggested,
    FamilyTherapySuggestionClosed,
    PlanStatus,
    PlanTransferred,
    PlanWritten,
    RevisionNoted,
    TransitionConfirmed,
)


async def project_plan(conn: Connection, event: DomainEvent, envelope: EventEnvelope) -> None:
    match event:
        case PlanDrafted():
            await store.revision_recorded(conn, event, envelope)
            await store.plan_status_changed(conn, event.patient_id, PlanStatus.ACTIVE,
                                            envelope.time)
        case PlanRevised():
            await store.revision_recorded(conn, event, envelope)
        case PlanWritten():
            await store.plan_written(conn, event, envelope.time)
        case RevisionNoted():
            await store.revision_noted(conn, event)
        case SteppedDown() | SteppedUp() | Discharged():
            status = await store.transition_recorded(conn, event, envelope)
            await store.plan_status_changed(conn, event.patient_id, status, envelope.time)
        case ExitSummarized():
            await store.exit_summarized(conn, event)
        case TransitionConfirmed():
            await store.transition_confirmed(conn, event)
        case ContinuedStayApproved():
            await store.continued_stay_approved(conn, event, envelope.time)
        case FamilyTherapySuggested():
            await store.family_therapy_suggested(conn, event, envelope.time)
        case FamilyTherapySuggestionClosed():
            await store.family_therapy_suggestion_closed(conn, event, envelope.time)
        case PlanTransferred():
            pass  # the rows moved with intake's PatientTransferred, which this follows
