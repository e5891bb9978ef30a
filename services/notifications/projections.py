"""Notifications' own events, projected into its tables in the transaction that records them.

Deterministic: every time and value comes from the event or its envelope, so
a rebuild writes the same rows. A forgotten patient's sealed fields read as
None: nothing personal is written, and what depends on it (a message whose
content is gone, its log) is skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence

from iopnet import data_keys
from iopnet.catalog import AlertAcknowledged, AlertEscalated, AlertRaised, DomainEvent
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from services.notifications.domain import DeliveryStatus, MessageKind
from services.notifications.domain.alerts import AlertStatus
from services.notifications.domain.events import (
    DeliveryAttempted,
    MessageCancelled,
    MessageQueued,
    MessageRescheduled,
    Outcome,
    PatientContactSet,
    SiteChannelsSet,
    SiteTemplateSet,
    SupportPersonContactSet,
    UrgentCauseFolded,
)


async def on_patient_contact_set(conn: Connection, event: PatientContactSet,
                                 envelope: EventEnvelope) -> None:
    if event.email is None:
        return
    await conn.execute(
        "INSERT INTO patient_contacts (patient_id, site_id, email, updated_at)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (patient_id)"
        " DO UPDATE SET email = $3, updated_at = $4",
        event.patient_id, event.site_id, event.email, envelope.time)


async def on_support_person_contact_set(conn: Connection, event: SupportPersonContactSet,
                                        envelope: EventEnvelope) -> None:
    if event.email is None:
        return
    await conn.execute(
        "INSERT INTO support_person_contacts (support_person_id, patient_id, site_id, email,"
        " updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (support_person_id)"
        " DO UPDATE SET patient_id = $2, email = $4, updated_at = $5",
        event.support_person_id, event.patient_id, event.site_id, event.email, envelope.time)


async def on_site_channels_set(conn: Connection, event: SiteChannelsSet,
                               envelope: EventEnvelope) -> None:
    await conn.execute(
        "INSERT INTO site_channels (site_id, clinician_alert_email, webhook_url, webhook_secret,"
        " previous_webhook_secret, previous_secret_until, updated_at, escalation_email,"
        " acknowledge_within_seconds)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (site_id) DO UPDATE SET"
        " clinician_alert_email = $2, webhook_url = $3, webhook_secret = $4,"
        " previous_webhook_secret = $5, previous_secret_until = $6, updated_at = $7,"
        " escalation_email = $8, acknowledge_within_seconds = $9",
        event.site_id, event.clinician_alert_email, event.webhook_url, event.webhook_secret,
        event.previous_webhook_secret, event.previous_secret_until, envelope.time,
        event.escalation_email, event.acknowledge_within_seconds)


async def on_site_template_set(conn: Connection, event: SiteTemplateSet,
                               envelope: EventEnvelope) -> None:
    await conn.execute(
        "INSERT INTO site_templates (site_id, kind, subject, body, updated_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (site_id, kind)"
        " DO UPDATE SET subject = $3, body = $4, updated_at = $5",
        event.site_id, event.kind, event.subject_line, event.body, envelope.time)


_INSERT_MESSAGE = (
    "INSERT INTO messages (id, patient_id, site_id, kind, channel, recipient_role,"
    " recipient_id, urgent, cause_id, cause_type, correlation_id, occurred_at, facts,"
    " session_id, status, due_at, trace_context, created_at) VALUES ($1, $2, $3, $4, $5,"
    " $6, $7, $8, $9, $10, $11, $12, $13, $14, 'pending', $15, $16, $17)"
    " ON CONFLICT DO NOTHING")


def _message_row(event: MessageQueued) -> tuple[object, ...]:
    return (uuid.UUID(event.message_id), event.patient_id, event.site_id, event.kind,
            event.channel.value, event.recipient_role.value, event.recipient_id, event.urgent,
            event.cause_id, event.cause_type, event.correlation_id, event.occurred_at,
            event.facts, event.session_id, event.due_at, event.trace_context, event.queued_at)


async def on_message_queued(conn: Connection, event: MessageQueued, envelope: EventEnvelope
                            ) -> None:
    if event.facts is None:
        return  # the patient is forgotten
    message_id = uuid.UUID(event.message_id)
    await conn.execute(_INSERT_MESSAGE, *_message_row(event))
    if event.kind == MessageKind.URGENT_ALERT.value:
        await _urgent_cause_placed(conn, message_id, event.cause_id, event.cause_type,
                                   envelope)


async def on_urgent_cause_folded(conn: Connection, event: UrgentCauseFolded,
                                 envelope: EventEnvelope) -> None:
    message_id = uuid.UUID(event.message_id)
    await conn.execute(
        "UPDATE messages SET facts = $2, cause_type = $3, occurred_at = $4 WHERE id = $1",
        message_id, event.facts, event.headline_type, event.headline_occurred_at)
    await _urgent_cause_placed(conn, message_id, event.cause_id, event.cause_type, envelope)


async def _urgent_cause_placed(conn: Connection, message_id: uuid.UUID, cause_id: str,
                               cause_type: str, envelope: EventEnvelope) -> None:
    await conn.execute(
        "INSERT INTO urgent_alert_causes (cause_id, recipient_role, recipient_id, message_id,"
        " patient_id, site_id, cause_type, placed_at) SELECT $2, recipient_role, recipient_id,"
        " id, patient_id, site_id, $3, $4 FROM messages WHERE id = $1 ON CONFLICT DO NOTHING",
        message_id, cause_id, cause_type, envelope.time)


async def on_message_rescheduled(conn: Connection, event: MessageRescheduled,
                                 _: EventEnvelope) -> None:
    await conn.execute("UPDATE messages SET due_at = $2 WHERE id = $1",
                       uuid.UUID(event.message_id), event.due_at)


async def on_message_cancelled(conn: Connection, event: MessageCancelled, _: EventEnvelope
                               ) -> None:
    await conn.execute("UPDATE messages SET status = $2 WHERE id = $1",
                       uuid.UUID(event.message_id), DeliveryStatus.CANCELLED.value)


async def on_delivery_attempted(conn: Connection, event: DeliveryAttempted,
                                _: EventEnvelope) -> None:
    message_id = uuid.UUID(event.message_id)
    await conn.execute(
        "UPDATE messages SET status = $2, attempts = $3, due_at = COALESCE($4, due_at),"
        " sent_at = $5 WHERE id = $1", message_id, _status_after(event).value, event.attempt,
        event.retry_at, event.at if event.outcome is Outcome.SENT else None)
    await conn.execute(
        "INSERT INTO delivery_log (message_id, patient_id, site_id, attempt, at, outcome,"
        " error_class) SELECT id, patient_id, site_id, $2, $3, $4, $5 FROM messages"
        " WHERE id = $1", message_id, event.attempt, event.at, event.outcome.value,
        event.error_class)


def _status_after(event: DeliveryAttempted) -> DeliveryStatus:
    if event.outcome is Outcome.FAILED:
        return DeliveryStatus.PENDING if event.retry_at else DeliveryStatus.FAILED
    return DeliveryStatus(event.outcome.value)


async def on_alert_raised(conn: Connection, event: AlertRaised, _: EventEnvelope) -> None:
    if await data_keys.is_forgotten(conn, event.patient_id):
        return  # published, so nothing sealed to go blank: a rebuild asks the keys instead
    await conn.execute(
        "INSERT INTO alerts (alert_id, patient_id, site_id, alert_reasons, status, raised_at,"
        " escalate_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        uuid.UUID(event.alert_id), event.patient_id, event.site_id, event.alert_reasons,
        AlertStatus.OPEN.value, event.raised_at, event.escalate_at)


async def on_alert_escalated(conn: Connection, event: AlertEscalated, _: EventEnvelope
                             ) -> None:
    await conn.execute(
        "UPDATE alerts SET status = $2, escalated_at = $3 WHERE alert_id = $1",
        uuid.UUID(event.alert_id), AlertStatus.ESCALATED.value, event.escalated_at)


async def on_alert_acknowledged(conn: Connection, event: AlertAcknowledged, _: EventEnvelope
                                ) -> None:
    await conn.execute(
        "UPDATE alerts SET status = $2, acknowledged_at = $3, acknowledged_by = $4"
        " WHERE alert_id = $1", uuid.UUID(event.alert_id), AlertStatus.ACKNOWLEDGED.value,
        event.acknowledged_at, event.clinician_id)


_PROJECTORS: dict[type[DomainEvent], Callable[..., Awaitable[None]]] = {
    PatientContactSet: on_patient_contact_set,
    SupportPersonContactSet: on_support_person_contact_set,
    SiteChannelsSet: on_site_channels_set,
    SiteTemplateSet: on_site_template_set,
    MessageQueued: on_message_queued,
    UrgentCauseFolded: on_urgent_cause_folded,
    MessageRescheduled: on_message_rescheduled,
    MessageCancelled: on_message_cancelled,
    DeliveryAttempted: on_delivery_attempted,
    AlertRaised: on_alert_raised,
    AlertEscalated: on_alert_escalated,
    AlertAcknowledged: on_alert_acknowledged,
}


async def project_recorded(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                           ) -> None:
    """The derived tables after one of notifications' own events (NotificationSent: none,
    its DeliveryAttempted says it all)."""
    projector = _PROJECTORS.get(type(event))
    if projector is not None:
        await projector(conn, event, envelope)


def _plain(queued: MessageQueued) -> bool:
    """A queued message whose projection is its row alone (not an alert's, not forgotten)."""
    return queued.facts is not None and queued.kind != MessageKind.URGENT_ALERT.value


async def project_all_recorded(conn: Connection,
                               recorded: Sequence[tuple[DomainEvent, EventEnvelope]]) -> None:
    """``project_recorded`` for several events in their order, each run of plain queued
    messages (a schedule's reminders) inserted in one ``executemany``."""
    run: list[MessageQueued] = []
    for event, envelope in recorded:
        if isinstance(event, MessageQueued) and _plain(event):
            run.append(event)
            continue
        await _insert_messages(conn, run)
        run = []
        await project_recorded(conn, event, envelope)
    await _insert_messages(conn, run)


async def _insert_messages(conn: Connection, queued: list[MessageQueued]) -> None:
    if queued:
        await conn.executemany(_INSERT_MESSAGE, [_message_row(event) for event in queued])
