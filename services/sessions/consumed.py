"""What sessions does with others' events.

Projectors keep its derived copy of the treatment plan and forget a patient; reactions
call its command handlers: enroll on admission, follow the plan's revisions, end the
program on step-down, step-up or discharge, and follow a transfer.
"""

from __future__ import annotations

from iopnet import data_keys
from iopnet.catalog import (
    Discharged,
    DomainEvent,
    PatientAdmitted,
    PatientForgotten,
    PatientTransferred,
    PlanDrafted,
    PlanRevised,
    SteppedDown,
    SteppedUp,
)
from iopnet.consumer import Projection
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.eventstore import Cause
from iopnet.forgetting import forgetting_projector
from iopnet.topics import TopicsOf
from iopnet.unit_of_work import UnitOfWork
from services.sessions import commands, store
from services.sessions.domain import weekly_sessions

#: Tables holding a patient's current state; they follow the patient to a new site.
PATIENT_TABLES = ("enrollments", "treatment_plans")
#: Everything sessions keeps of a patient, deleted when the patient is forgotten.
FORGOTTEN_TABLES = (*PATIENT_TABLES, "patient_sessions", "week_reviews")


async def on_plan(conn: Connection, event: DomainEvent, envelope: EventEnvelope) -> None:
    assert isinstance(event, PlanDrafted | PlanRevised)
    if await data_keys.is_forgotten(conn, event.patient_id):
        return  # a plan event arriving after the patient was forgotten keeps nothing
    await store.save_plan(conn, event.patient_id, event.site_id, event.plan_id, event.revision,
                          weekly_sessions(event.interventions), envelope.time)


def _unit(conn: Connection, envelope: EventEnvelope) -> UnitOfWork:
    return commands.unit_of_work(conn, Cause.following(envelope))


async def enroll(conn: Connection, event: DomainEvent, envelope: EventEnvelope) -> None:
    assert isinstance(event, PatientAdmitted)
    await commands.enroll(_unit(conn, envelope), event)


async def adjust_schedule(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                          ) -> None:
    assert isinstance(event, PlanRevised)
    previous = await store.plan_before(conn, event.patient_id)  # on_plan ran just before
    await commands.adjust_schedule(_unit(conn, envelope), event, previous, envelope.time)


async def cancel_remaining(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                           ) -> None:
    assert isinstance(event, SteppedDown | SteppedUp | Discharged)
    await commands.cancel_remaining(_unit(conn, envelope), event.patient_id,
                                    event.effective_on, type(event).__name__, envelope.time)


async def transfer(conn: Connection, event: DomainEvent, envelope: EventEnvelope) -> None:
    assert isinstance(event, PatientTransferred)
    await commands.transfer(_unit(conn, envelope), event.patient_id, event.site_id,
                            envelope.time)


PROJECTION = Projection(
    topics=TopicsOf("intake", "plans"),
    projectors={
        PlanDrafted: on_plan,
        PlanRevised: on_plan,
        PatientForgotten: forgetting_projector(FORGOTTEN_TABLES),
    },
    reactions={
        PatientAdmitted: enroll,
        PlanRevised: adjust_schedule,
        SteppedDown: cancel_remaining,
        SteppedUp: cancel_remaining,
        Discharged: cancel_remaining,
        PatientTransferred: transfer,
    },
)
