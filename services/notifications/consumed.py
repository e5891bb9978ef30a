"""What notifications builds from others' events: the patient, their circle and schedule.

Projectors write derived tables only, from the event and its envelope, so a
rebuild writes the same rows; what the events call for (messages) is the
reactions' (``reactions.py``). Every one runs in the consumer's transaction,
after the event's id was recorded, so a redelivered event changes nothing.
"""

from __future__ import annotations

from iopnet.catalog import (
    AdmissionDeclined,
    ConsentGranted,
    ConsentRevoked,
    Discharged,
    DomainEvent,
    PatientAdmitted,
    PatientForgotten,
    PatientReferred,
    SessionsCancelled,
    SessionScheduled,
    SessionsScheduled,
    SteppedDown,
    SteppedUp,
    SupportPersonLinked,
    schedule_of,
)
from iopnet.consumer import Projection, Projector
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.forgetting import forget_patient
from iopnet.topics import TopicsOf
from services.notifications import reactions, store


async def on_patient_referred(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                              ) -> None:
    assert isinstance(event, PatientReferred)
    await store.patient_referred(conn, event.patient_id, event.site_id, envelope.time)


async def on_patient_admitted(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                              ) -> None:
    assert isinstance(event, PatientAdmitted)
    await store.patient_admitted(conn, event.patient_id, event.site_id, event.program_id,
                                 event.start_date, event.clinician_id, event.baseline_phq9,
                                 envelope.time)


def status_projector(status: str) -> Projector:
    """The patient's status after an event of intake's or plans'."""

    async def set_status(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                         ) -> None:
        assert isinstance(event, AdmissionDeclined | SteppedDown | SteppedUp | Discharged)
        await store.set_patient_status(conn, event.patient_id, status, envelope.time)

    return set_status


async def on_sessions_scheduled(conn: Connection, event: DomainEvent, _: EventEnvelope
                                ) -> None:
    """The places a schedule holds (an older producer's SessionScheduled is a schedule of
    one); a waitlisted session is nothing to remind of."""
    assert isinstance(event, SessionScheduled | SessionsScheduled)
    await store.sessions_scheduled(conn, schedule_of(event))


async def on_sessions_cancelled(conn: Connection, event: DomainEvent, _: EventEnvelope
                                ) -> None:
    assert isinstance(event, SessionsCancelled)
    await store.sessions_cancelled(conn, event.patient_id, event.session_ids)


async def on_support_person_linked(conn: Connection, event: DomainEvent,
                                   envelope: EventEnvelope) -> None:
    assert isinstance(event, SupportPersonLinked)
    await store.link_support_person(conn, event.patient_id, event.site_id,
                                    event.support_person_id, event.relationship.value,
                                    envelope.time)


async def on_consent_granted(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                             ) -> None:
    assert isinstance(event, ConsentGranted)
    await store.grant_consent(conn, event.consent_id, event.patient_id, event.site_id,
                              event.support_person_id, event.scope, event.covers,
                              event.expires_on, envelope.time)


async def on_consent_revoked(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                             ) -> None:
    assert isinstance(event, ConsentRevoked)
    await store.revoke_consent(conn, event.consent_id, envelope.time)


async def on_patient_forgotten(conn: Connection, event: DomainEvent, _: EventEnvelope
                               ) -> None:
    """The patient's key, current rows and messages (pending ones are never sent) go."""
    assert isinstance(event, PatientForgotten)
    await forget_patient(conn, event.patient_id, (*store.MESSAGE_TABLES,
                                                  *store.PATIENT_TABLES))


PROJECTION = Projection(
    topics=TopicsOf("intake", "plans", "sessions", "family"),
    projectors={
        PatientReferred: on_patient_referred,
        PatientAdmitted: on_patient_admitted,
        AdmissionDeclined: status_projector("declined"),
        SteppedDown: status_projector("stepped_down"),
        SteppedUp: status_projector("stepped_up"),
        Discharged: status_projector("discharged"),
        SessionScheduled: on_sessions_scheduled,
        SessionsScheduled: on_sessions_scheduled,
        SessionsCancelled: on_sessions_cancelled,
        SupportPersonLinked: on_support_person_linked,
        ConsentGranted: on_consent_granted,
        ConsentRevoked: on_consent_revoked,
        PatientForgotten: on_patient_forgotten,
    },
    reactions=reactions.REACTIONS,
)
