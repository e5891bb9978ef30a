"""What sessions does with others' events: enroll on admission, follow the treatment plan,
and end the program on step-down, step-up or discharge. A place a patient gives up at a
group session goes to the earliest waitlisted patient, in the same transaction."""

from __future__ import annotations

from iopnet.auth.registry import site_time_zone
from iopnet.catalog import (
    Discharged,
    DomainEvent,
    PatientAdmitted,
    PlanDrafted,
    PlanRevised,
    SteppedDown,
    SteppedUp,
)
from iopnet.consumer import Projection
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.eventstore import Cause
from iopnet.topics import topic_of
from services.sessions import domain, scheduling, store

#: Tables holding a patient's current state; they follow the patient to a new site.
PATIENT_TABLES = ("enrollments", "treatment_plans")


async def on_patient_admitted(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    assert isinstance(event, PatientAdmitted)
    zone = await site_time_zone(conn, event.site_id)
    await store.save_terms(conn, domain.terms_of(event, zone))
    enrollments = store.Enrollments(conn)
    enrollment = await enrollments.get(event.patient_id)
    assert enrollment is not None and enrollment.terms is not None
    terms = enrollment.terms
    await store.hold_program(conn, terms.site_id, terms.program_id)
    groups = await store.groups_of(conn, terms.site_id, terms.program_id)
    await store.hold_groups(conn, groups)
    occurrences = domain.program_schedule(
        terms.patient_id, terms.clinician_id, groups, terms.days_per_week,
        terms.starts_on, terms.ends_on, terms.time_zone,
    )
    taken = await store.occupancy(conn, [o.session_id for o in occurrences if o.capacity])
    enrollment.schedule(occurrences, taken)
    await enrollments.save(enrollment, Cause.following(envelope))


async def on_plan_drafted(conn: Connection, event: DomainEvent, _: EventEnvelope) -> None:
    assert isinstance(event, PlanDrafted)
    await store.save_plan(conn, event.patient_id, event.site_id, event.plan_id, event.revision,
                          domain.weekly_sessions(event.interventions))


async def on_plan_revised(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                          ) -> None:
    assert isinstance(event, PlanRevised)
    previous = await store.plan_of(conn, event.patient_id)
    await store.save_plan(conn, event.patient_id, event.site_id, event.plan_id, event.revision,
                          domain.weekly_sessions(event.interventions))
    enrollments = store.Enrollments(conn)
    enrollment = await enrollments.get(event.patient_id)
    if enrollment is None or enrollment.terms is None:
        return  # not enrolled here (yet): the plan is kept for when it matters
    change = domain.plan_change(event.interventions, event.changes, previous)
    groups = await store.groups_of(conn, enrollment.terms.site_id, enrollment.terms.program_id)
    additions = enrollment.additions_for(change, groups, envelope.time)
    await store.hold_groups(conn, [g for g in groups
                                   if g.group_id in {a.group_id for a in additions}])
    taken = await store.occupancy(conn, [a.session_id for a in additions if a.capacity])
    freed = enrollment.adjust_to_plan(change, additions, taken, envelope.time)
    cause = Cause.following(envelope)
    await enrollments.save(enrollment, cause)
    await scheduling.fill_freed_places(conn, freed, envelope.time, cause)


async def on_program_ended(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                           ) -> None:
    assert isinstance(event, SteppedDown | SteppedUp | Discharged)
    reason = type(event).__name__
    await store.end_enrollment(conn, event.patient_id, event.effective_on, reason)
    enrollments = store.Enrollments(conn)
    enrollment = await enrollments.get(event.patient_id)
    if enrollment is None:
        return
    freed = enrollment.cancel_after(event.effective_on, reason)
    cause = Cause.following(envelope)
    await enrollments.save(enrollment, cause)
    await scheduling.fill_freed_places(conn, freed, envelope.time, cause)


PROJECTION = Projection(
    topics=[topic_of("intake"), topic_of("plans")],
    projectors={
        PatientAdmitted: on_patient_admitted,
        PlanDrafted: on_plan_drafted,
        PlanRevised: on_plan_revised,
        SteppedDown: on_program_ended,
        SteppedUp: on_program_ended,
        Discharged: on_program_ended,
    },
)
