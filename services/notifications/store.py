"""Notifications' adapters: patients and their circle, contacts, channels, messages."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from iopnet.catalog import Channel, ConsentScope, RecipientRole
from iopnet.db import Connection
from iopnet.telemetry import current_trace_context
from services.notifications.domain import (
    DEFAULT_TEMPLATES,
    Consent,
    DeliveryStatus,
    LatestAlert,
    MessageDraft,
    MessageKind,
    Recipient,
    SiteChannels,
    Template,
    UrgentCause,
    causes_of,
)

#: Tables that hold a patient's current state and follow them to a new site.
PATIENT_TABLES = ("patients", "patient_contacts", "support_persons", "support_person_contacts",
                  "consents", "scheduled_sessions")
DUE_CHANNEL = "notifications_due"


# Patients and what notifications learns of them.

async def patient_referred(conn: Connection, patient_id: str, site_id: str) -> None:
    await conn.execute(
        "INSERT INTO patients (patient_id, site_id, status) VALUES ($1, $2, 'referred')"
        " ON CONFLICT (patient_id) DO NOTHING", patient_id, site_id)


async def patient_admitted(conn: Connection, patient_id: str, site_id: str, program_id: str,
                           start_date: date, clinician_id: str, baseline_phq9: int) -> None:
    await conn.execute(
        "INSERT INTO patients (patient_id, site_id, status, program_id, start_date,"
        " clinician_id, baseline_phq9) VALUES ($1, $2, 'admitted', $3, $4, $5, $6)"
        " ON CONFLICT (patient_id) DO UPDATE SET status = 'admitted', program_id = $3,"
        " start_date = $4, clinician_id = $5, baseline_phq9 = $6, updated_at = now()",
        patient_id, site_id, program_id, start_date, clinician_id, baseline_phq9)


async def set_patient_status(conn: Connection, patient_id: str, status: str) -> None:
    await conn.execute("UPDATE patients SET status = $2, updated_at = now()"
                       " WHERE patient_id = $1", patient_id, status)


async def find_patient(conn: Connection, patient_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT patient_id, site_id, status, baseline_phq9 FROM patients WHERE patient_id = $1",
        patient_id)
    return dict(row) if row else None


async def link_support_person(conn: Connection, patient_id: str, site_id: str,
                              support_person_id: str, relationship: str, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO support_persons (support_person_id, patient_id, site_id, relationship,"
        " linked_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (support_person_id) DO NOTHING",
        support_person_id, patient_id, site_id, relationship, at)


async def grant_consent(conn: Connection, consent_id: str, patient_id: str, site_id: str,
                        support_person_id: str, scope: ConsentScope, expires_on: date | None,
                        at: datetime) -> None:
    await conn.execute(
        "INSERT INTO consents (consent_id, patient_id, site_id, support_person_id, scope,"
        " expires_on, granted_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (consent_id) DO NOTHING",
        consent_id, patient_id, site_id, support_person_id, scope.value, expires_on, at)


async def revoke_consent(conn: Connection, consent_id: str, at: datetime) -> None:
    await conn.execute("UPDATE consents SET revoked_at = $2 WHERE consent_id = $1"
                       " AND revoked_at IS NULL", consent_id, at)


async def consents_of(conn: Connection, patient_id: str) -> list[Consent]:
    """The patient's consents to linked support persons (revoked ones included, marked)."""
    rows = await conn.fetch(
        "SELECT c.consent_id, c.support_person_id, c.scope, c.expires_on,"
        " c.revoked_at IS NOT NULL AS revoked FROM consents c"
        " JOIN support_persons p ON p.support_person_id = c.support_person_id"
        " AND p.patient_id = c.patient_id WHERE c.patient_id = $1", patient_id)
    return [Consent(r["consent_id"], r["support_person_id"], ConsentScope(r["scope"]),
                    r["expires_on"], r["revoked"]) for r in rows]


async def session_scheduled(conn: Connection, patient_id: str, session_id: str, site_id: str,
                            starts_at: datetime, duration_minutes: int) -> None:
    await conn.execute(
        "INSERT INTO scheduled_sessions (patient_id, session_id, site_id, starts_at,"
        " duration_minutes) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (patient_id, session_id)"
        " DO UPDATE SET starts_at = $4, duration_minutes = $5, cancelled = false",
        patient_id, session_id, site_id, starts_at, duration_minutes)


async def sessions_cancelled(conn: Connection, patient_id: str, session_ids: list[str]) -> None:
    await conn.execute(
        "UPDATE scheduled_sessions SET cancelled = true WHERE patient_id = $1"
        " AND session_id = ANY($2::text[])", patient_id, session_ids)
    await conn.execute(
        "UPDATE messages SET status = $3 WHERE patient_id = $1 AND session_id = ANY($2::text[])"
        " AND status = 'pending'", patient_id, session_ids, DeliveryStatus.CANCELLED.value)


async def session_starts(conn: Connection, patient_id: str) -> list[datetime]:
    rows = await conn.fetch("SELECT starts_at FROM scheduled_sessions WHERE patient_id = $1"
                            " AND NOT cancelled", patient_id)
    return [r["starts_at"] for r in rows]


# Contacts and channels (written through the API, read when a message goes out).

async def set_patient_contact(conn: Connection, patient_id: str, site_id: str, email: str
                              ) -> None:
    await conn.execute(
        "INSERT INTO patient_contacts (patient_id, site_id, email) VALUES ($1, $2, $3)"
        " ON CONFLICT (patient_id) DO UPDATE SET email = $3, updated_at = now()",
        patient_id, site_id, email)


async def set_support_person_contact(conn: Connection, support_person_id: str,
                                     patient_id: str, site_id: str, email: str) -> None:
    await conn.execute(
        "INSERT INTO support_person_contacts (support_person_id, patient_id, site_id, email)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (support_person_id)"
        " DO UPDATE SET patient_id = $2, email = $4, updated_at = now()",
        support_person_id, patient_id, site_id, email)


async def set_site_channels(conn: Connection, channels: SiteChannels) -> None:
    await conn.execute(
        "INSERT INTO site_channels (site_id, clinician_alert_email, webhook_url, webhook_secret)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (site_id) DO UPDATE SET"
        " clinician_alert_email = $2, webhook_url = $3, webhook_secret = $4, updated_at = now()",
        channels.site_id, channels.clinician_alert_email, channels.webhook_url,
        channels.webhook_secret)


async def site_channels(conn: Connection, site_id: str) -> SiteChannels:
    row = await conn.fetchrow(
        "SELECT clinician_alert_email, webhook_url, webhook_secret FROM site_channels"
        " WHERE site_id = $1", site_id)
    return SiteChannels(site_id, **dict(row)) if row else SiteChannels(site_id)


async def set_template(conn: Connection, site_id: str, kind: MessageKind, template: Template
                       ) -> None:
    await conn.execute(
        "INSERT INTO site_templates (site_id, kind, subject, body) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (site_id, kind) DO UPDATE SET subject = $3, body = $4, updated_at = now()",
        site_id, kind.value, template.subject, template.body)


async def template_for(conn: Connection, site_id: str, kind: MessageKind) -> Template:
    """The site's own template for a kind, or the default."""
    row = await conn.fetchrow("SELECT subject, body FROM site_templates WHERE site_id = $1"
                              " AND kind = $2", site_id, kind.value)
    return Template(row["subject"], row["body"]) if row else DEFAULT_TEMPLATES[kind]


async def email_address(conn: Connection, patient_id: str, role: RecipientRole,
                        recipient_id: str, site_id: str) -> str | None:
    if role is RecipientRole.PATIENT:
        query = "SELECT email FROM patient_contacts WHERE patient_id = $1 AND site_id = $2"
        return await conn.fetchval(query, patient_id, site_id)  # type: ignore[no-any-return]
    if role is RecipientRole.SUPPORT_PERSON:
        return await conn.fetchval(  # type: ignore[no-any-return]
            "SELECT email FROM support_person_contacts WHERE support_person_id = $1"
            " AND patient_id = $2 AND site_id = $3", recipient_id, patient_id, site_id)
    return (await site_channels(conn, site_id)).clinician_alert_email


async def retry_waiting_for(conn: Connection, patient_id: str | None,
                            role: RecipientRole | None, recipient_id: str | None = None) -> None:
    """Messages that failed for want of an address or channel go again now."""
    await conn.execute(
        "UPDATE messages SET due_at = now() WHERE status = 'pending' AND attempts > 0"
        " AND due_at > now() AND ($1::uuid IS NULL OR patient_id = $1)"
        " AND ($2::text IS NULL OR recipient_role = $2)"
        " AND ($3::text IS NULL OR recipient_id = $3)",
        patient_id, role.value if role else None, recipient_id)


# Messages.

async def queue(conn: Connection, drafts: Iterable[MessageDraft]) -> int:
    """Queue messages; one already queued for the same cause, kind and recipient stays."""
    queued = 0
    for draft in drafts:
        queued += await _insert(conn, draft) is not None
    return queued


async def _insert(conn: Connection, draft: MessageDraft) -> uuid.UUID | None:
    """The new message's id; None when that cause, kind and recipient already has one."""
    return await conn.fetchval(  # type: ignore[no-any-return]
        "INSERT INTO messages (id, patient_id, site_id, kind, channel, recipient_role,"
        " recipient_id, urgent, cause_id, cause_type, correlation_id, occurred_at, facts,"
        " session_id, status, due_at, trace_context) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
        " $9, $10, $11, $12, $13, $14, 'pending', $15, $16)"
        " ON CONFLICT (cause_id, kind, recipient_role, recipient_id) DO NOTHING RETURNING id",
        uuid.uuid4(), draft.patient_id, draft.site_id, draft.kind.value,
        draft.recipient.channel.value, draft.recipient.role.value, draft.recipient.id,
        draft.urgent, draft.occasion.cause_id, draft.occasion.cause_type,
        draft.occasion.correlation_id, draft.occasion.occurred_at, dict(draft.facts),
        draft.session_id, draft.due_at, current_trace_context() or None)


# Urgent alerts, coalesced per patient and recipient (domain/urgent_alerts.py).

async def lock_urgent_alerts(conn: Connection, patient_id: str, recipient: Recipient) -> None:
    """Causes for one patient and recipient are placed one at a time (till commit)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                       f"urgent:{patient_id}:{recipient.role.value}:{recipient.id}")


async def urgent_cause_placed(conn: Connection, cause_id: str, recipient: Recipient) -> bool:
    return bool(await conn.fetchval(
        "SELECT 1 FROM urgent_alert_causes WHERE cause_id = $1 AND recipient_role = $2"
        " AND recipient_id = $3", cause_id, recipient.role.value, recipient.id))


async def latest_urgent_alert(conn: Connection, patient_id: str, recipient: Recipient
                              ) -> LatestAlert | None:
    """The recipient's pending alert about the patient, else the last one sent; locked, so
    a delivery in flight finishes (and is seen as sent) before a cause is placed."""
    row = await conn.fetchrow(
        "SELECT id, status, sent_at, facts FROM messages WHERE patient_id = $1"
        " AND kind = $2 AND recipient_role = $3 AND recipient_id = $4"
        " AND status IN ('pending', 'sent')"
        " ORDER BY status = 'pending' DESC, sent_at DESC NULLS LAST LIMIT 1 FOR UPDATE",
        patient_id, MessageKind.URGENT_ALERT.value, recipient.role.value, recipient.id)
    if row is None:
        return None
    facts = row["facts"]
    return LatestAlert(str(row["id"]), DeliveryStatus(row["status"]), row["sent_at"],
                       causes_of(facts), bool(facts.get("follow_up")))


async def open_urgent_alert(conn: Connection, draft: MessageDraft) -> uuid.UUID:
    message_id = await _insert(conn, draft)
    if message_id is None:  # opened by this very cause before: the same message
        message_id = await conn.fetchval(
            "SELECT id FROM messages WHERE cause_id = $1 AND kind = $2 AND recipient_role = $3"
            " AND recipient_id = $4", draft.occasion.cause_id, draft.kind.value,
            draft.recipient.role.value, draft.recipient.id)
    return message_id


async def fold_into_alert(conn: Connection, message_id: str, facts: dict[str, Any],
                          headline: UrgentCause) -> None:
    """The pending alert now answers one more cause, and is headed by ``headline``."""
    await conn.execute(
        "UPDATE messages SET facts = $2, cause_type = $3, occurred_at = $4 WHERE id = $1"
        " AND status = 'pending'", uuid.UUID(message_id), facts, headline.type,
        headline.occurred_at)


async def record_urgent_cause(conn: Connection, cause: UrgentCause, recipient: Recipient,
                              message_id: str, patient_id: str, site_id: str
                              ) -> None:
    await conn.execute(
        "INSERT INTO urgent_alert_causes (cause_id, recipient_role, recipient_id, message_id,"
        " patient_id, site_id, cause_type) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT DO NOTHING", cause.event_id, recipient.role.value, recipient.id,
        uuid.UUID(message_id), patient_id, site_id, cause.type)


async def cancel_reminders(conn: Connection, patient_id: str, session_id: str) -> None:
    """A rescheduled session's earlier reminder no longer applies."""
    await conn.execute(
        "UPDATE messages SET status = $3 WHERE patient_id = $1 AND session_id = $2"
        " AND kind = $4 AND status = 'pending'", patient_id, session_id,
        DeliveryStatus.CANCELLED.value, MessageKind.SESSION_REMINDER.value)


MESSAGE_COLUMNS = ("id, patient_id, site_id, kind, channel, recipient_role, recipient_id,"
                   " urgent, cause_id, cause_type, correlation_id, occurred_at, facts,"
                   " session_id, status, due_at, attempts, sent_at, created_at")


async def messages_for(conn: Connection, patient_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE patient_id = $1"
                            " ORDER BY created_at, due_at, kind, recipient_role", patient_id)
    return [dict(row) for row in rows]


async def deliveries_of(conn: Connection, message_id: uuid.UUID) -> list[dict[str, Any]] | None:
    """A message's delivery log; None when the message is not visible to the caller."""
    if await conn.fetchval("SELECT 1 FROM messages WHERE id = $1", message_id) is None:
        return None
    rows = await conn.fetch("SELECT attempt, at, outcome, error_class FROM delivery_log"
                            " WHERE message_id = $1 ORDER BY id", message_id)
    return [dict(row) for row in rows]


@dataclass(frozen=True)
class DueMessage:
    id: uuid.UUID
    patient_id: str
    site_id: str
    kind: MessageKind
    channel: Channel
    recipient_role: RecipientRole
    recipient_id: str
    urgent: bool
    cause_id: str
    cause_type: str
    correlation_id: str
    occurred_at: datetime
    facts: dict[str, Any]
    attempts: int
    trace_context: dict[str, str] | None = None


async def claim_due(conn: Connection) -> DueMessage | None:
    """The most overdue pending message, locked for this transaction; others skip it."""
    row = await conn.fetchrow(
        "SELECT id, patient_id::text, site_id, kind, channel, recipient_role, recipient_id,"
        " urgent, cause_id, cause_type, correlation_id, occurred_at, facts, attempts,"
        " trace_context FROM messages WHERE status = 'pending' AND due_at <= now()"
        " ORDER BY urgent DESC, due_at LIMIT 1 FOR UPDATE SKIP LOCKED")
    if row is None:
        return None
    values = dict(row)
    return DueMessage(**{**values, "kind": MessageKind(values["kind"]),
                         "channel": Channel(values["channel"]),
                         "recipient_role": RecipientRole(values["recipient_role"])})


async def defer(conn: Connection, message_id: uuid.UUID, until: datetime) -> None:
    await conn.execute("UPDATE messages SET due_at = $2 WHERE id = $1", message_id, until)


async def record_attempt(conn: Connection, message: DueMessage, *, status: DeliveryStatus,
                         outcome: str, error_class: str | None = None,
                         next_due: datetime | None = None, sent_at: datetime | None = None
                         ) -> None:
    attempt = message.attempts + 1
    await conn.execute(
        "UPDATE messages SET status = $2, attempts = $3, due_at = COALESCE($4, due_at),"
        " sent_at = $5 WHERE id = $1",
        message.id, status.value, attempt, next_due, sent_at)
    await conn.execute(
        "INSERT INTO delivery_log (message_id, site_id, attempt, outcome, error_class)"
        " VALUES ($1, $2, $3, $4, $5)", message.id, message.site_id, attempt, outcome,
        error_class)


async def withhold(conn: Connection, message: DueMessage) -> None:
    """Consent no longer covers it: never sent, and the log says why (no attempt was made)."""
    await conn.execute("UPDATE messages SET status = $2 WHERE id = $1", message.id,
                       DeliveryStatus.WITHHELD.value)
    await conn.execute(
        "INSERT INTO delivery_log (message_id, site_id, attempt, outcome, error_class)"
        " VALUES ($1, $2, $3, 'withheld', 'NoLiveConsent')", message.id, message.site_id,
        message.attempts)


async def site_name(conn: Connection, site_id: str) -> str:
    name = await conn.fetchval("SELECT name FROM sites WHERE site_id = $1", site_id)
    return str(name) if name else site_id
