"""What plans builds from others' events, and what it does about them.

The projectors write derived tables only (episodes, attendance, measures, risk
signals, the safety plan's reviews, consents), so a rebuild can replay them. The
reactions run after them
in the same transaction and call plans' command handlers: draft the plan on an
admission, judge a PHQ-9, follow the family's consents, follow a transfer. A rebuild
never runs them: what they recorded is in plans' event store already.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from iopnet.auth.registry import site_time_zone
from iopnet.catalog import (
    ConsentExpired,
    ConsentGranted,
    ConsentRevoked,
    DomainEvent,
    Instrument,
    OutcomeMeasured,
    PatientAdmitted,
    PatientTransferred,
    RiskSignalRaised,
    SafetyPlanRecorded,
    SafetyPlanReviewed,
    SessionAttended,
    SessionMissed,
    SessionsCancelled,
    SessionScheduled,
    SessionsScheduled,
    schedule_of,
)
from iopnet.consumer import Projection
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.eventstore import Cause
from iopnet.topics import TopicsOf
from services.plans import commands, domain, store
from services.plans.domain.progress import SessionStatus

# --- Projectors: derived tables ------------------------------------------------------------


async def on_patient_admitted(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    """Open the episode the plan is drafted for."""
    assert isinstance(event, PatientAdmitted)
    await store.open_episode(conn, domain.open_episode(event), envelope.time)


async def on_sessions_scheduled(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    """A schedule's sessions, each dated in the site's time zone (an older producer's
    SessionScheduled is a schedule of one)."""
    assert isinstance(event, SessionScheduled | SessionsScheduled)
    await store.sessions_scheduled(conn, schedule_of(event),
                                   ZoneInfo(await site_time_zone(conn, event.site_id)),
                                   envelope.time)


async def on_session_attended(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    assert isinstance(event, SessionAttended)
    await store.session_outcome(conn, event.patient_id, event.site_id, event.session_id,
                                SessionStatus.ATTENDED, event.attended_on, envelope.time,
                                event.late_minutes, event.credited_minutes)


async def on_session_missed(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    assert isinstance(event, SessionMissed)
    status = SessionStatus.MISSED_EXCUSED if event.excused else SessionStatus.MISSED_UNEXCUSED
    await store.session_outcome(conn, event.patient_id, event.site_id, event.session_id,
                                status, event.missed_on, envelope.time)


async def on_sessions_cancelled(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    assert isinstance(event, SessionsCancelled)
    await store.sessions_cancelled(conn, event.patient_id, event.session_ids, envelope.time)


async def on_outcome_measured(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    assert isinstance(event, OutcomeMeasured)
    await store.outcome_measured(conn, event.patient_id, event.site_id, event.measure_id,
                                 event.instrument.value, event.total, event.item9,
                                 event.measured_on, event.program_week, envelope.time)


async def on_risk_signal_raised(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    assert isinstance(event, RiskSignalRaised)
    await store.risk_signal_raised(conn, envelope.id, event.patient_id, event.site_id,
                                   event.signal.value, event.observed_on, envelope.source,
                                   envelope.time)


async def on_safety_plan_written(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    """Intake recorded or reviewed the safety plan: the day counts for a step-down or a
    completed discharge after a risk finding."""
    assert isinstance(event, SafetyPlanRecorded | SafetyPlanReviewed)
    await store.safety_plan_written(conn, event, envelope.id, envelope.time)


async def on_consent_granted(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    assert isinstance(event, ConsentGranted)
    await store.consent_granted(conn, event, envelope.time)


async def on_consent_revoked(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    assert isinstance(event, ConsentRevoked)
    await store.consent_ended(conn, event.patient_id, event.consent_id, revoked_at=envelope.time)


async def on_consent_expired(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    assert isinstance(event, ConsentExpired)
    await store.consent_ended(conn, event.patient_id, event.consent_id,
                              expired_on=event.expired_on)


# --- Reactions: plans' command handlers -------------------------------------------------------


async def draft_on_admission(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                             ) -> None:
    await commands.draft_plan(commands.unit_of_work(conn, Cause.following(envelope)),
                              event.subject, envelope.id, envelope.time)


async def involve_family(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                         ) -> None:
    """A consent granted: an open plan without family therapy gets it."""
    await commands.follow_family_consent(
        commands.unit_of_work(conn, Cause.following(envelope)), event.subject, envelope.time,
        granted=True)


async def withdraw_family(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                          ) -> None:
    """A consent ended: without a live one left, family therapy leaves the plan. A consent
    revoked only to be replaced by a new grant (next in the stream) withdraws nothing."""
    if isinstance(event, ConsentRevoked) and event.replaced_by is not None:
        return
    await commands.follow_family_consent(
        commands.unit_of_work(conn, Cause.following(envelope)), event.subject, envelope.time,
        granted=False)


async def judge_progress(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                         ) -> None:
    """A PHQ-9 measured in the program: plans publishes its judgement (ProgressJudged)."""
    assert isinstance(event, OutcomeMeasured)
    if event.instrument is Instrument.PHQ9:
        await commands.judge_progress(commands.unit_of_work(conn, Cause.following(envelope)),
                                      event.subject)


async def follow_transfer(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                          ) -> None:
    await commands.follow_transfer(commands.unit_of_work(conn, Cause.following(envelope)),
                                   event.subject, event.site_id)


PROJECTION = Projection(
    topics=TopicsOf("intake", "sessions", "family"),
    projectors={
        PatientAdmitted: on_patient_admitted,
        SessionScheduled: on_sessions_scheduled,
        SessionsScheduled: on_sessions_scheduled,
        SessionAttended: on_session_attended,
        SessionMissed: on_session_missed,
        SessionsCancelled: on_sessions_cancelled,
        OutcomeMeasured: on_outcome_measured,
        RiskSignalRaised: on_risk_signal_raised,
        SafetyPlanRecorded: on_safety_plan_written,
        SafetyPlanReviewed: on_safety_plan_written,
        ConsentGranted: on_consent_granted,
        ConsentRevoked: on_consent_revoked,
        ConsentExpired: on_consent_expired,
    },
    reactions={
        PatientAdmitted: draft_on_admission,
        OutcomeMeasured: judge_progress,
        ConsentGranted: involve_family,
        ConsentRevoked: withdraw_family,
        ConsentExpired: withdraw_family,
        PatientTransferred: follow_transfer,
    },
)
