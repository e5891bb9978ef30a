"""What family does about others' events, beyond its tables: the circle opens on admission,
follows a transfer and closes when the patient is forgotten. Reactions run after the
projectors, in the same transaction, and are never replayed by a rebuild."""

from __future__ import annotations

from iopnet.catalog import DomainEvent, PatientAdmitted, PatientForgotten, PatientTransferred
from iopnet.consumer import Projection, Projector
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.eventstore import Cause
from iopnet.topics import TopicsOf
from services.family import commands
from services.family.projections import CONSUMED_PROJECTORS


async def open_circle_on_admission(conn: Connection, event: DomainEvent,
                                   envelope: EventEnvelope) -> None:
    assert isinstance(event, PatientAdmitted)
    await commands.open_circle(commands.unit_of_work(conn, Cause.following(envelope)),
                               event.patient_id, event.site_id, event.start_date,
                               event.baseline_phq9)


async def move_circle_on_transfer(conn: Connection, event: DomainEvent,
                                  envelope: EventEnvelope) -> None:
    assert isinstance(event, PatientTransferred)
    await commands.move_circle(commands.unit_of_work(conn, Cause.following(envelope)),
                               event.patient_id, event.site_id)


async def close_circle_on_forgetting(conn: Connection, event: DomainEvent,
                                     envelope: EventEnvelope) -> None:
    assert isinstance(event, PatientForgotten)
    await commands.forget_circle(commands.unit_of_work(conn, Cause.following(envelope)),
                                 event.patient_id)


REACTIONS: dict[type[DomainEvent], Projector] = {
    PatientAdmitted: open_circle_on_admission,
    PatientTransferred: move_circle_on_transfer,
    PatientForgotten: close_circle_on_forgetting,
}

PROJECTION = Projection(
    topics=TopicsOf("intake", "sessions", "plans"),
    projectors=CONSUMED_PROJECTORS,
    reactions=REACTIONS,
)
