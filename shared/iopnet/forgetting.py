"""What every service does when a patient is forgotten: its part of crypto-shredding.

The patient's data key is destroyed, so the personal data sealed in this
service's private events can never be read again; the derived rows for the
patient are deleted. The events themselves stay: a rebuild replays them,
reads the sealed fields as None, and replays ``PatientForgotten`` too, so the
patient stays forgotten.
"""

from __future__ import annotations

from collections.abc import Sequence

from iopnet import data_keys
from iopnet.catalog import DomainEvent, PatientForgotten
from iopnet.consumer import Projection, Projector
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.topics import topic_of


async def forget_patient(conn: Connection, patient_id: str, patient_tables: Sequence[str]
                         ) -> None:
    """Destroy the patient's key and rows, and the idempotent answers about the patient
    (they can hold names); tables are deleted from last to first."""
    await data_keys.destroy_key(conn, patient_id)
    for table in [*reversed(patient_tables), "idempotency_keys"]:
        await conn.execute(f"DELETE FROM {table} WHERE patient_id = $1", patient_id)


def forgetting_projector(patient_tables: Sequence[str]) -> Projector:
    async def forget(conn: Connection, event: DomainEvent, envelope: EventEnvelope) -> None:
        assert isinstance(event, PatientForgotten)
        await forget_patient(conn, event.patient_id, patient_tables)

    return forget


def forgetting_projection(patient_tables: Sequence[str]) -> Projection:
    """What a consuming service applies when intake publishes ``PatientForgotten``."""
    return Projection(topics=[topic_of("intake")],
                      projectors={PatientForgotten: forgetting_projector(patient_tables)})
