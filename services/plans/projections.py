"""What plans builds from others' events: the plan it drafts on admission, and progress."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC
from zoneinfo import ZoneInfo

from iopnet.auth.registry import site_time_zone
from iopnet.catalog import (
    DomainEvent,
    OutcomeMeasured,
    PatientAdmitted,
    RiskSignalRaised,
    SessionAttended,
    SessionMissed,
    SessionsCancelled,
    SessionScheduled,
)
from iopnet.consumer import Projection
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.eventstore import Cause
from iopnet.topics import topic_of
from services.plans import domain, store
from services.plans.domain.progress import SessionStatus

log = logging.getLogger(__name__)


async def on_patient_admitted(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    """Open the episode and draft the plan (PlanDrafted), in this one transaction."""
    assert isinstance(event, PatientAdmitted)
    episode = domain.open_episode(event)
    if not await store.open_episode(conn, episode):
        return  # already open: a second admission of the same patient changes nothing here
    plans = store.TreatmentPlans(conn)
    plan = await plans.get(event.patient_id)
    assert plan is not None
    # A plan id derived from the admission: replaying the admission drafts the same plan.
    plan_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"iopnet:plan:{envelope.id}"))
    try:
        plan.draft(plan_id, event.site_id, episode.findings(family_consent=False))
    except domain.InvalidPlanInput as invalid:
        # The episode stays visible, awaiting a draft, rather than the admission being lost.
        log.error("no plan drafted for an admission: %s", invalid.field)
        return
    await plans.save(plan, Cause.following(envelope))


async def on_session_scheduled(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    assert isinstance(event, SessionScheduled)
    starts_at = event.starts_at if event.starts_at.tzinfo else event.starts_at.replace(tzinfo=UTC)
    zone = ZoneInfo(await site_time_zone(conn, event.site_id))
    await store.session_scheduled(
        conn, event.patient_id, event.site_id, event.session_id, event.kind.value,
        event.modality.value, starts_at, starts_at.astimezone(zone).date(),
        event.duration_minutes, event.waitlisted,
    )


async def on_session_attended(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    assert isinstance(event, SessionAttended)
    await store.session_outcome(conn, event.patient_id, event.site_id, event.session_id,
                                SessionStatus.ATTENDED, event.attended_on, event.late_minutes,
                                event.credited_minutes)


async def on_session_missed(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    assert isinstance(event, SessionMissed)
    status = SessionStatus.MISSED_EXCUSED if event.excused else SessionStatus.MISSED_UNEXCUSED
    await store.session_outcome(conn, event.patient_id, event.site_id, event.session_id,
                                status, event.missed_on)


async def on_sessions_cancelled(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    assert isinstance(event, SessionsCancelled)
    await store.sessions_cancelled(conn, event.patient_id, event.session_ids)


async def on_outcome_measured(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    assert isinstance(event, OutcomeMeasured)
    await store.outcome_measured(conn, event.patient_id, event.site_id, event.measure_id,
                                 event.instrument.value, event.total, event.item9,
                                 event.measured_on, event.program_week)


async def on_risk_signal_raised(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    assert isinstance(event, RiskSignalRaised)
    await store.risk_signal_raised(conn, envelope.id, event.patient_id, event.site_id,
                                   event.signal.value, event.observed_on, envelope.source)


PROJECTION = Projection(
    topics=[topic_of("intake"), topic_of("sessions")],
    projectors={
        PatientAdmitted: on_patient_admitted,
        SessionScheduled: on_session_scheduled,
        SessionAttended: on_session_attended,
        SessionMissed: on_session_missed,
        SessionsCancelled: on_sessions_cancelled,
        OutcomeMeasured: on_outcome_measured,
        RiskSignalRaised: on_risk_signal_raised,
    },
)
