"""What notifications builds from others' events: the messages they call for."""

from __future__ import annotations

from iopnet.catalog import DomainEvent, PatientAdmitted
from iopnet.consumer import Projection
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.topics import topic_of
from services.notifications import domain, store


async def on_patient_admitted(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    assert isinstance(event, PatientAdmitted)
    await store.queue_message(conn, domain.welcome(event, envelope.id))


PROJECTION = Projection(
    topics=[topic_of("intake")],
    projectors={PatientAdmitted: on_patient_admitted},
)
