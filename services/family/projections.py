"""What family builds: its consent read model from its own events (in the recording
transaction), and, from others' events, only what a support person might be told of."""

from __future__ import annotations

from datetime import date

from iopnet.catalog import (
    ConsentExpired,
    ConsentGranted,
    ConsentRevoked,
    Discharged,
    DomainEvent,
    Instrument,
    OutcomeMeasured,
    PatientAdmitted,
    SessionsCancelled,
    SessionScheduled,
    SteppedDown,
    SteppedUp,
)
from iopnet.consumer import Projection
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.topics import topic_of
from services.family.domain import CareStatus, status_after_discharge

#: Tables holding a patient's current state: they follow the patient to a new site.
#: Family sessions stay with the site that held them.
PATIENT_TABLES = (
    "family_circles", "support_persons", "consents", "scheduled_sessions", "phq9_measures",
    "care_status",
)


async def project_circle(conn: Connection, event: DomainEvent, envelope: EventEnvelope) -> None:
    """Family's own events → the consent history (support persons and sessions are written
    by their commands, with the details events do not carry)."""
    match event:
        case ConsentGranted():
            await conn.execute(
                "INSERT INTO consents (consent_id, patient_id, site_id, support_person_id, scope,"
                " expires_on, granted_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
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


async def on_patient_admitted(conn: Connection, event: DomainEvent, _: EventEnvelope) -> None:
    assert isinstance(event, PatientAdmitted)
    await conn.execute(
        "INSERT INTO family_circles (patient_id, site_id, admitted_on, baseline_phq9)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (patient_id) DO NOTHING",
        event.patient_id, event.site_id, event.start_date, event.baseline_phq9,
    )
    await conn.execute(
        "INSERT INTO care_status (patient_id, site_id, status, since) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (patient_id) DO NOTHING",
        event.patient_id, event.site_id, CareStatus.IN_PROGRAM.value, event.start_date,
    )


async def on_session_scheduled(conn: Connection, event: DomainEvent, _: EventEnvelope) -> None:
    assert isinstance(event, SessionScheduled)
    await conn.execute(
        "INSERT INTO scheduled_sessions (session_id, patient_id, site_id, kind, starts_at,"
        " duration_minutes, waitlisted) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (session_id) DO UPDATE SET kind = $4, starts_at = $5,"
        " duration_minutes = $6, waitlisted = $7",
        event.session_id, event.patient_id, event.site_id, event.kind.value, event.starts_at,
        event.duration_minutes, event.waitlisted,
    )


async def on_sessions_cancelled(conn: Connection, event: DomainEvent, _: EventEnvelope) -> None:
    assert isinstance(event, SessionsCancelled)
    await conn.execute(
        "UPDATE scheduled_sessions SET cancelled = true"
        " WHERE patient_id = $1 AND session_id = ANY($2::text[])",
        event.patient_id, event.session_ids,
    )


async def on_outcome_measured(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                              ) -> None:
    assert isinstance(event, OutcomeMeasured)
    if event.instrument is not Instrument.PHQ9:
        return
    await conn.execute(
        "INSERT INTO phq9_measures (measure_id, patient_id, site_id, total, measured_on,"
        " recorded_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (measure_id) DO NOTHING",
        event.measure_id, event.patient_id, event.site_id, event.total, event.measured_on,
        envelope.time,
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


PROJECTION = Projection(
    topics=[topic_of("intake"), topic_of("sessions"), topic_of("plans")],
    projectors={
        PatientAdmitted: on_patient_admitted,
        SessionScheduled: on_session_scheduled,
        SessionsCancelled: on_sessions_cancelled,
        OutcomeMeasured: on_outcome_measured,
        SteppedDown: on_stepped_down,
        SteppedUp: on_stepped_up,
        Discharged: on_discharged,
    },
)
