"""What notifications builds from others' events: the patient's circle, and the messages due.

Every projector runs in the consumer's transaction, after the event's id was
recorded, so a redelivered event changes nothing; message rows are also
unique per (cause, kind, recipient).
"""

from __future__ import annotations

from datetime import timedelta

from iopnet.auth.registry import site_date
from iopnet.catalog import (
    AdmissionDeclined,
    AttendanceBelowMinimum,
    ConsentGranted,
    ConsentRevoked,
    ConsentScope,
    Discharged,
    DomainEvent,
    Instrument,
    OutcomeMeasured,
    OutreachNeeded,
    PatientAdmitted,
    PatientReferred,
    RiskSignalRaised,
    SessionsCancelled,
    SessionScheduled,
    SteppedDown,
    SteppedUp,
    SupportPersonLinked,
)
from iopnet.consumer import Projection
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope, utc_now
from iopnet.topics import topic_of
from services.notifications import domain, store
from services.notifications.domain import Occasion, Placing, UrgentCause
from services.notifications.settings import current


def occasion_of(envelope: EventEnvelope) -> Occasion:
    return Occasion(envelope.id, envelope.type, envelope.correlationid, envelope.time)


def batch_of(envelope: EventEnvelope) -> Occasion:
    """Events recorded for one cause (e.g. one enrollment's sessions) make one batch."""
    return Occasion(f"batch:{envelope.correlationid}", envelope.type, envelope.correlationid,
                    envelope.time)


async def on_patient_referred(conn: Connection, event: DomainEvent, _: EventEnvelope) -> None:
    assert isinstance(event, PatientReferred)
    await store.patient_referred(conn, event.patient_id, event.site_id)


async def on_patient_admitted(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                              ) -> None:
    assert isinstance(event, PatientAdmitted)
    await store.patient_admitted(conn, event.patient_id, event.site_id, event.program_id,
                                 event.start_date, event.clinician_id, event.baseline_phq9)
    await store.queue(conn, domain.welcome(event, occasion_of(envelope)))


async def on_admission_declined(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                                ) -> None:
    assert isinstance(event, AdmissionDeclined)
    await store.set_patient_status(conn, event.patient_id, "declined")
    await _alert(conn, event.patient_id, event.site_id,
                 domain.declined_alert(event, occasion_of(envelope)), envelope)


async def on_risk_signal_raised(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                                ) -> None:
    assert isinstance(event, RiskSignalRaised)
    await _alert(conn, event.patient_id, event.site_id,
                 domain.risk_alert(event, occasion_of(envelope)), envelope)


async def _alert(conn: Connection, patient_id: str, site_id: str, cause: UrgentCause | None,
                 envelope: EventEnvelope) -> None:
    """Place an urgent cause, for each recipient, in the alert it belongs to (coalescing)."""
    if cause is None:
        return
    settings = current()
    window = timedelta(seconds=settings.urgent_alert_coalesce_seconds)
    gather = timedelta(seconds=settings.urgent_alert_gather_seconds)
    for recipient in domain.urgent_recipients(site_id):
        await store.lock_urgent_alerts(conn, patient_id, recipient)
        latest = await store.latest_urgent_alert(conn, patient_id, recipient)
        placement = domain.place(
            cause, latest, already_alerted=await store.urgent_cause_placed(
                conn, cause.event_id, recipient), now=utc_now(), window=window, gather=gather)
        if placement.placing is Placing.ALREADY_ALERTED:
            continue
        if placement.placing is Placing.FOLD:
            assert latest is not None and placement.message_id is not None
            causes = [*latest.causes, cause]
            await store.fold_into_alert(conn, placement.message_id,
                                        domain.alert_facts(causes, latest.follow_up),
                                        domain.headline(causes))
            message_id = placement.message_id
        else:
            message_id = str(await store.open_urgent_alert(conn, domain.urgent_draft(
                patient_id, site_id, recipient, cause, occasion_of(envelope), placement)))
        await store.record_urgent_cause(conn, cause, recipient, message_id, patient_id, site_id)


async def on_session_scheduled(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                               ) -> None:
    assert isinstance(event, SessionScheduled)
    settings = current()
    if event.waitlisted:
        return
    await store.session_scheduled(conn, event.patient_id, event.session_id, event.site_id,
                                  event.starts_at, event.duration_minutes)
    await store.cancel_reminders(conn, event.patient_id, event.session_id)
    reminder = domain.session_reminder(event, occasion_of(envelope), envelope.time,
                                       timedelta(hours=settings.reminder_lead_hours))
    await store.queue(conn, [reminder] if reminder else [])
    sharing = await _sharing(conn, event.patient_id, event.site_id, ConsentScope.SCHEDULE,
                             envelope)
    await store.queue(conn, domain.family_schedule_update(
        event, batch_of(envelope), sharing,
        timedelta(seconds=settings.schedule_batch_settle_seconds)))


async def on_sessions_cancelled(conn: Connection, event: DomainEvent, _: EventEnvelope
                                ) -> None:
    assert isinstance(event, SessionsCancelled)
    await store.sessions_cancelled(conn, event.patient_id, event.session_ids)


async def on_outreach_needed(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                             ) -> None:
    assert isinstance(event, OutreachNeeded)
    await store.queue(conn, domain.outreach(event, occasion_of(envelope)))


async def on_attendance_below_minimum(conn: Connection, event: DomainEvent,
                                     envelope: EventEnvelope) -> None:
    assert isinstance(event, AttendanceBelowMinimum)
    await store.queue(conn, domain.attendance_review(event, occasion_of(envelope)))


async def on_outcome_measured(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                              ) -> None:
    assert isinstance(event, OutcomeMeasured)
    if event.instrument is not Instrument.PHQ9:
        return
    await _progress_update(conn, event, envelope)


async def on_stepped_down(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                          ) -> None:
    assert isinstance(event, SteppedDown)
    await store.set_patient_status(conn, event.patient_id, "stepped_down")
    await store.queue(conn, domain.aftercare_summary(event, occasion_of(envelope)))
    await _progress_update(conn, event, envelope)


async def on_stepped_up(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                        ) -> None:
    assert isinstance(event, SteppedUp)
    occasion = occasion_of(envelope)
    await store.set_patient_status(conn, event.patient_id, "stepped_up")
    await _alert(conn, event.patient_id, event.site_id, domain.stepped_up_alert(event, occasion),
                 envelope)
    await store.queue(conn, domain.step_up_notice(event, occasion))


async def on_discharged(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                        ) -> None:
    assert isinstance(event, Discharged)
    await store.set_patient_status(conn, event.patient_id, "discharged")
    await store.queue(conn, domain.discharge_notice(event, occasion_of(envelope)))


async def _progress_update(conn: Connection, event: OutcomeMeasured | SteppedDown,
                           envelope: EventEnvelope) -> None:
    sharing = await _sharing(conn, event.patient_id, event.site_id,
                             ConsentScope.PROGRESS_SUMMARIES, envelope)
    patient = await store.find_patient(conn, event.patient_id)
    baseline = patient["baseline_phq9"] if patient else None
    await store.queue(conn, domain.family_progress_update(
        event, occasion_of(envelope), sharing, baseline))


async def _sharing(conn: Connection, patient_id: str, site_id: str, needed: ConsentScope,
                   envelope: EventEnvelope) -> list[str]:
    today = await site_date(conn, site_id, envelope.time)
    return domain.sharing_with(await store.consents_of(conn, patient_id), needed, today)


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
                              event.support_person_id, event.scope, event.expires_on,
                              envelope.time)


async def on_consent_revoked(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                             ) -> None:
    assert isinstance(event, ConsentRevoked)
    await store.revoke_consent(conn, event.consent_id, envelope.time)


PROJECTION = Projection(
    topics=[topic_of("intake"), topic_of("plans"), topic_of("sessions"), topic_of("family")],
    projectors={
        PatientReferred: on_patient_referred,
        PatientAdmitted: on_patient_admitted,
        AdmissionDeclined: on_admission_declined,
        RiskSignalRaised: on_risk_signal_raised,
        SessionScheduled: on_session_scheduled,
        SessionsCancelled: on_sessions_cancelled,
        OutreachNeeded: on_outreach_needed,
        AttendanceBelowMinimum: on_attendance_below_minimum,
        OutcomeMeasured: on_outcome_measured,
        SteppedDown: on_stepped_down,
        SteppedUp: on_stepped_up,
        Discharged: on_discharged,
        SupportPersonLinked: on_support_person_linked,
        ConsentGranted: on_consent_granted,
        ConsentRevoked: on_consent_revoked,
    },
)
