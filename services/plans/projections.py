"""What plans builds from others' events: the plan it drafts on admission, progress, and
the family consents that bring family therapy into the plan or take it out."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, date
from zoneinfo import ZoneInfo

from iopnet.auth.registry import site_date, site_time_zone
from iopnet.catalog import (
    ConsentExpired,
    ConsentGranted,
    ConsentRevoked,
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
from services.plans.domain.plan_drafting import PlanRevision
from services.plans.domain.progress import SessionStatus

FollowConsent = Callable[[domain.TreatmentPlan, Iterable[domain.FamilyConsent], date],
                         PlanRevision | None]

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
    # Family's topic is not ordered with intake's: a consent may already be here.
    consents = await store.family_consents(conn, event.patient_id)
    day = await site_date(conn, event.site_id, envelope.time)
    consented = domain.family_involved(consents, day)
    try:
        plan.draft(plan_id, event.site_id, episode.findings(family_consent=consented))
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


async def on_consent_granted(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    """Keep the consent; an open plan without family therapy gets it (PlanRevised)."""
    assert isinstance(event, ConsentGranted)
    await store.consent_granted(conn, event, envelope.time)
    await _follow_family_consent(conn, event.patient_id, envelope,
                                 domain.TreatmentPlan.involve_family)


async def on_consent_revoked(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    """Mark the consent revoked; without a live one left, family therapy leaves the plan.
    A consent replaced by a new grant (next in the stream) withdraws nothing."""
    assert isinstance(event, ConsentRevoked)
    await store.consent_ended(conn, event.patient_id, event.consent_id, revoked_at=envelope.time)
    if event.replaced_by is None:
        await _follow_family_consent(conn, event.patient_id, envelope,
                                     domain.TreatmentPlan.withdraw_family)


async def on_consent_expired(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    """Mark the consent expired; as after a revocation, without a live one left, family
    therapy leaves the plan."""
    assert isinstance(event, ConsentExpired)
    await store.consent_ended(conn, event.patient_id, event.consent_id,
                              expired_on=event.expired_on)
    await _follow_family_consent(conn, event.patient_id, envelope,
                                 domain.TreatmentPlan.withdraw_family)


async def _follow_family_consent(conn: Connection, patient_id: str, envelope: EventEnvelope,
                                 follow: FollowConsent) -> None:
    plans = store.TreatmentPlans(conn)
    plan = await plans.get(patient_id)
    if plan is None:
        return  # not admitted yet: the draft will read the consent
    day = await site_date(conn, plan.site_id, envelope.time)
    revision = follow(plan, await store.family_consents(conn, patient_id), day)
    if revision is not None:
        await plans.save(plan, Cause.following(envelope), changes=revision.changes)


PROJECTION = Projection(
    topics=[topic_of("intake"), topic_of("sessions"), topic_of("family")],
    projectors={
        PatientAdmitted: on_patient_admitted,
        SessionScheduled: on_session_scheduled,
        SessionAttended: on_session_attended,
        SessionMissed: on_session_missed,
        SessionsCancelled: on_sessions_cancelled,
        OutcomeMeasured: on_outcome_measured,
        RiskSignalRaised: on_risk_signal_raised,
        ConsentGranted: on_consent_granted,
        ConsentRevoked: on_consent_revoked,
        ConsentExpired: on_consent_expired,
    },
)
