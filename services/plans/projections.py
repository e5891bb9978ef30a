"""What plans builds from others' events."""

from __future__ import annotations

from iopnet.catalog import DomainEvent, PatientAdmitted
from iopnet.consumer import Projection
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.topics import topic_of
from services.plans import domain, store


async def on_patient_admitted(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    assert isinstance(event, PatientAdmitted)
    await store.open_episode(conn, domain.open_episode(event))


PROJECTION = Projection(
    topics=[topic_of("intake")],
    projectors={PatientAdmitted: on_patient_admitted},
)
