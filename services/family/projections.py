"""What family builds: every table of it, from events only. Its own events are projected
in the transaction that records them; others' events only as far as a support person might
be told of them. Nothing here decides anything: that is the command handlers' part
(``commands.py``), which the consumer's reactions call (``consumed.py``)."""

from __future__ import annotations

from datetime import date

from iopnet.catalog import (
    ConsentExpired,
    ConsentGranted,
    ConsentRevoked,
    Discharged,
    DomainEvent,
    FamilySessionHeld,
    PatientAdmitted,
    PatientForgotten,
    ProgressJudged,
    SessionsCancelled,
    SessionScheduled,
    SessionsScheduled,
    SteppedDown,
    SteppedUp,
    SupportPersonLinked,
    schedule_of,
)
from iopnet.consumer import Projector
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.forgetting import forget_patient, forgetting_projector
from services.family.domain import CareStatus, status_after_discharge
from services.family.domain.events import (
    FamilyCircleForgotten,
    FamilyCircleMoved,
    FamilyCircleOpened,
    FamilySessionRecorded,
    SupportPersonNamed,
)

#: Tables holding a patient's current state: they follow the patient to a new site.
PATIENT_TABLES = (
    "family_circles", "support_persons", "consents", "scheduled_sessions", "progress_trends",
    "care_status",
)
#: Family sessions stay with the site that held them, but go when the patient is forgotten.
#: Deleted last-listed first: attendance before its session, consents before their person.
FORGOTTEN_TABLES = ("family_sessions", "family_session_attendance", *PATIENT_TABLES)
#: Every table of family's own: written by projections only, rebuilt from events.
DERIVED_TABLES = (*FORGOTTEN_TABLES,)
#: The tables written from the circle's own stream.
CIRCLE_TABLES = ("family_circles", "support_persons", "consents")


async def project_circle(conn: Connection, event: DomainEvent, envelope: EventEnvelope) -> None:
    """Family's own events → the circle, its support persons, consents and sessions."""
    match event:
        case FamilyCircleOpened() | FamilyCircleMoved() | FamilyCircleForgotten():
            await _project_lifecycle(conn, event, envelope)
        case SupportPersonLinked() | SupportPersonNamed():
            await _project_support_person(conn, event, envelope)
        case ConsentGranted() | ConsentRevoked() | ConsentExpired():
            await _project_consent(conn, event, envelope)
        case FamilySessionRecorded():
            await _project_family_session(conn, event, envelope)
        case FamilySessionHeld():
            pass  # its private FamilySessionRecorded, beside it, holds the details


async def _project_lifecycle(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                             ) -> None:
    match event:
        case FamilyCircleOpened():
            await conn.execute(
                "INSERT INTO family_circles (patient_id, site_id, admitted_on, baseline_phq9,"
                " opened_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (patient_id) DO NOTHING",
                event.patient_id, event.site_id, event.admitted_on, event.baseline_phq9,
                envelope.time,
            )
        case FamilyCircleMoved():
            for table in CIRCLE_TABLES:
                await conn.execute(f"UPDATE {table} SET site_id = $2 WHERE patient_id = $1",
                                   event.patient_id, event.site_id)
        case FamilyCircleForgotten():
            # A rebuild from family's own events keeps the patient forgotten.
            await forget_patient(conn, event.patient_id, FORGOTTEN_TABLES)


async def _project_support_person(conn: Connection, event: DomainEvent,
                                  envelope: EventEnvelope) -> None:
    match event:
        case SupportPersonLinked():
            await conn.execute(
                "INSERT INTO support_persons (support_person_id, patient_id, site_id,"
                " relationship, linked_at) VALUES ($1, $2, $3, $4, $5)"
                " ON CONFLICT (support_person_id) DO NOTHING",
                event.support_person_id, event.patient_id, event.site_id,
                event.relationship.value, envelope.time,
            )
        case SupportPersonNamed() if event.given_name is not None:
            # A forgotten patient's names read as None: nothing personal is written.
            await conn.execute(
                "UPDATE support_persons SET given_name = $2, family_name = $3"
                " WHERE support_person_id = $1",
                event.support_person_id, event.given_name, event.family_name,
            )


async def _project_consent(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                           ) -> None:
    match event:
        case ConsentGranted():
            await conn.execute(
                "INSERT INTO consents (consent_id, patient_id, site_id, support_person_id, scope,"
                " expires_on, granted_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " ON CONFLICT (consent_id) DO NOTHING",
                event.consent_id, event.patient_id, event.site_id, event.support_person_id,
                event.scope.value, event.expires_on, envelope.time,
            )
        case ConsentRevoked():
            await conn.execute(
                "UPDATE consents SET revoked_at = $2 WHERE consent_id = $1 AND revoked_at IS NULL",
                event.consent_id, envelope.time,
            )
        case ConsentExpired():
            await conn.execute(
                "UPDATE consents SET expired_on = $2 WHERE consent_id = $1 AND expired_on IS NULL",
                event.consent_id, event.expired_on,
            )


async def _project_family_session(conn: Connection, event: FamilySessionRecorded,
                                  envelope: EventEnvelope) -> None:
    await conn.execute(
        "INSERT INTO family_sessions (family_session_id, patient_id, site_id, kind, held_on,"
        " clinician_id, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (family_session_id) DO NOTHING",
        event.family_session_id, event.patient_id, event.site_id, event.kind, event.held_on,
        event.clinician_id, envelope.time,
    )
    await conn.executemany(
        "INSERT INTO family_session_attendance (family_session_id, support_person_id,"
        " patient_id, site_id, attended) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        [(event.family_session_id, a.support_person_id, event.patient_id, event.site_id,
          a.attended) for a in event.attendance],
    )


# Others' events: derived tables only; what family does about them is in consumed.py.

async def on_patient_admitted(conn: Connection, event: DomainEvent, _: EventEnvelope) -> None:
    assert isinstance(event, PatientAdmitted)
    await conn.execute(
        "INSERT INTO care_status (patient_id, site_id, status, since) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (patient_id) DO NOTHING",
        event.patient_id, event.site_id, CareStatus.IN_PROGRAM.value, event.start_date,
    )


async def on_sessions_scheduled(conn: Connection, event: DomainEvent, _: EventEnvelope
                                ) -> None:
    """A schedule's sessions (an older producer's SessionScheduled is a schedule of one)."""
    assert isinstance(event, SessionScheduled | SessionsScheduled)
    scheduled = schedule_of(event)
    await conn.executemany(
        "INSERT INTO scheduled_sessions (session_id, patient_id, site_id, kind, starts_at,"
        " duration_minutes, waitlisted) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (patient_id, session_id) DO UPDATE SET kind = $4, starts_at = $5,"
        " duration_minutes = $6, waitlisted = $7",
        [(s.session_id, scheduled.patient_id, scheduled.site_id, s.kind.value, s.starts_at,
          s.duration_minutes, s.waitlisted) for s in scheduled.sessions],
    )


async def on_sessions_cancelled(conn: Connection, event: DomainEvent, _: EventEnvelope) -> None:
    assert isinstance(event, SessionsCancelled)
    await conn.execute(
        "UPDATE scheduled_sessions SET cancelled = true"
        " WHERE patient_id = $1 AND session_id = ANY($2::text[])",
        event.patient_id, event.session_ids,
    )


async def on_progress_judged(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                             ) -> None:
    """Plans' judgement of a PHQ-9 (the one "improving"): its trend, never the score."""
    assert isinstance(event, ProgressJudged)
    await conn.execute(
        "INSERT INTO progress_trends (measure_id, patient_id, site_id, trend, measured_on,"
        " recorded_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (measure_id) DO NOTHING",
        event.measure_id, event.patient_id, event.site_id, event.trend.value,
        event.measured_on, envelope.time,
    )


async def on_stepped_down(conn: Connection, event: DomainEvent, _: EventEnvelope) -> None:
    assert isinstance(event, SteppedDown)
    await _set_care_status(conn, event.patient_id, event.site_id, CareStatus.STEPPED_DOWN,
                           event.effective_on)


async def on_stepped_up(conn: Connection, event: DomainEvent, _: EventEnvelope) -> None:
    assert isinstance(event, SteppedUp)
    await _set_care_status(conn, event.patient_id, event.site_id, CareStatus.STEPPED_UP,
                           event.effective_on)


async def on_discharged(conn: Connection, event: DomainEvent, _: EventEnvelope) -> None:
    assert isinstance(event, Discharged)
    await _set_care_status(conn, event.patient_id, event.site_id,
                           status_after_discharge(event.outcome), event.effective_on)


async def _set_care_status(conn: Connection, patient_id: str, site_id: str,
                           status: CareStatus, since: date) -> None:
    await conn.execute(
        "INSERT INTO care_status (patient_id, site_id, status, since) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (patient_id) DO UPDATE SET status = $3, since = $4",
        patient_id, site_id, status.value, since,
    )


#: What family's consumer writes from others' events (PatientForgotten: from every table,
#: family sessions included, which do not follow a transfer).
CONSUMED_PROJECTORS: dict[type[DomainEvent], Projector] = {
    PatientAdmitted: on_patient_admitted,
    SessionScheduled: on_sessions_scheduled,
    SessionsScheduled: on_sessions_scheduled,
    SessionsCancelled: on_sessions_cancelled,
    ProgressJudged: on_progress_judged,
    SteppedDown: on_stepped_down,
    SteppedUp: on_stepped_up,
    Discharged: on_discharged,
    PatientForgotten: forgetting_projector(FORGOTTEN_TABLES),
}
