"""Notifications' adapters: patients and their circle, contacts, channels, messages."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from iopnet.catalog import ConsentScope, RecipientRole, SessionsScheduled, SitePolicies
from iopnet.catalog.upcasting import consent_granted_covers
from iopnet.db import Connection
from services.notifications.domain import (
    DEFAULT_TEMPLATES,
    Consent,
    MessageKind,
    Recipient,
    SiteChannels,
    Template,
)

#: Tables that hold a patient's current state and follow them to a new site.
PATIENT_TABLES = ("patients", "patient_contacts", "support_persons", "support_person_contacts",
                  "consents", "scheduled_sessions")
#: The patient's messages and their history: they stay with the site that sent them on a
#: transfer, and go with the rest when the patient is forgotten (last listed first).
MESSAGE_TABLES = ("messages", "delivery_log", "urgent_alert_causes", "alerts")
#: Every table of notifications' own, written by projections only: what a rebuild rebuilds.
DERIVED_TABLES = (*PATIENT_TABLES, *MESSAGE_TABLES, "site_channels", "site_templates")
DUE_CHANNEL = "notifications_due"


# Patients and what notifications learns of them.

async def patient_referred(conn: Connection, patient_id: str, site_id: str, at: datetime
                           ) -> None:
    await conn.execute(
        "INSERT INTO patients (patient_id, site_id, status, updated_at)"
        " VALUES ($1, $2, 'referred', $3) ON CONFLICT (patient_id) DO NOTHING",
        patient_id, site_id, at)


async def patient_admitted(conn: Connection, patient_id: str, site_id: str, program_id: str,
                           start_date: date, clinician_id: str, baseline_phq9: int,
                           at: datetime) -> None:
    await conn.execute(
        "INSERT INTO patients (patient_id, site_id, status, program_id, start_date,"
        " clinician_id, baseline_phq9, updated_at) VALUES ($1, $2, 'admitted', $3, $4, $5, $6,"
        " $7) ON CONFLICT (patient_id) DO UPDATE SET status = 'admitted', program_id = $3,"
        " start_date = $4, clinician_id = $5, baseline_phq9 = $6, updated_at = $7",
        patient_id, site_id, program_id, start_date, clinician_id, baseline_phq9, at)


async def set_patient_status(conn: Connection, patient_id: str, status: str, at: datetime
                             ) -> None:
    await conn.execute("UPDATE patients SET status = $2, updated_at = $3"
                       " WHERE patient_id = $1", patient_id, status, at)


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
                        support_person_id: str, scope: ConsentScope,
                        covers: Sequence[ConsentScope], expires_on: date | None,
                        at: datetime) -> None:
    await conn.execute(
        "INSERT INTO consents (consent_id, patient_id, site_id, support_person_id, scope,"
        " expires_on, granted_at, covers) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (consent_id) DO NOTHING",
        consent_id, patient_id, site_id, support_person_id, scope.value, expires_on, at,
        [c.value for c in covers])


async def revoke_consent(conn: Connection, consent_id: str, at: datetime) -> None:
    await conn.execute("UPDATE consents SET revoked_at = $2 WHERE consent_id = $1"
                       " AND revoked_at IS NULL", consent_id, at)


async def consents_of(conn: Connection, patient_id: str) -> list[Consent]:
    """The patient's consents to linked support persons (revoked ones included, marked)."""
    rows = await conn.fetch(
        "SELECT c.consent_id, c.support_person_id, c.scope, c.covers, c.expires_on,"
        " c.revoked_at IS NOT NULL AS revoked FROM consents c"
        " JOIN support_persons p ON p.support_person_id = c.support_person_id"
        " AND p.patient_id = c.patient_id WHERE c.patient_id = $1", patient_id)
    return [Consent(r["consent_id"], r["support_person_id"], _covers(r["scope"], r["covers"]),
                    r["expires_on"], r["revoked"]) for r in rows]


def _covers(scope: str, covers: list[str] | None) -> frozenset[ConsentScope]:
    """What family published; a row from a v1 grant (none published) reads as the
    catalog's upcaster reads that grant."""
    if covers is None:
        covers = consent_granted_covers({"scope": scope})["covers"]
    return frozenset(ConsentScope(c) for c in covers)


async def sessions_scheduled(conn: Connection, scheduled: SessionsScheduled) -> None:
    """The schedule's held places (not its waitlisted ones)."""
    await conn.executemany(
        "INSERT INTO scheduled_sessions (patient_id, session_id, site_id, starts_at,"
        " duration_minutes) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (patient_id, session_id)"
        " DO UPDATE SET starts_at = $4, duration_minutes = $5, cancelled = false",
        [(scheduled.patient_id, s.session_id, scheduled.site_id, s.starts_at,
          s.duration_minutes) for s in scheduled.sessions if not s.waitlisted])


async def sessions_cancelled(conn: Connection, patient_id: str, session_ids: list[str]) -> None:
    await conn.execute(
        "UPDATE scheduled_sessions SET cancelled = true WHERE patient_id = $1"
        " AND session_id = ANY($2::text[])", patient_id, session_ids)


async def session_starts(conn: Connection, patient_id: str) -> list[datetime]:
    rows = await conn.fetch("SELECT starts_at FROM scheduled_sessions WHERE patient_id = $1"
                            " AND NOT cancelled", patient_id)
    return [r["starts_at"] for r in rows]


# Contacts and channels (recorded through the API, read when a message goes out).

async def site_channels(conn: Connection, site_id: str) -> SiteChannels:
    row = await conn.fetchrow(
        "SELECT clinician_alert_email, webhook_url, webhook_secret, previous_webhook_secret,"
        " previous_secret_until, escalation_email, acknowledge_within_seconds"
        " FROM site_channels WHERE site_id = $1", site_id)
    if row is None:
        return SiteChannels(site_id)
    columns = dict(row)
    window = columns.pop("acknowledge_within_seconds")
    return SiteChannels(site_id, **columns,
                        acknowledge_within=timedelta(seconds=window) if window else None)


async def template_for(conn: Connection, site_id: str, kind: MessageKind) -> Template:
    """The site's own template for a kind, or the default."""
    row = await conn.fetchrow("SELECT subject, body FROM site_templates WHERE site_id = $1"
                              " AND kind = $2", site_id, kind.value)
    return Template(row["subject"], row["body"]) if row else DEFAULT_TEMPLATES[kind]


async def email_address(conn: Connection, patient_id: str, role: RecipientRole,
                        recipient_id: str, site_id: str, kind: MessageKind | None = None
                        ) -> str | None:
    if role is RecipientRole.PATIENT:
        query = "SELECT email FROM patient_contacts WHERE patient_id = $1 AND site_id = $2"
        return await conn.fetchval(query, patient_id, site_id)  # type: ignore[no-any-return]
    if role is RecipientRole.SUPPORT_PERSON:
        return await conn.fetchval(  # type: ignore[no-any-return]
            "SELECT email FROM support_person_contacts WHERE support_person_id = $1"
            " AND patient_id = $2 AND site_id = $3", recipient_id, patient_id, site_id)
    channels = await site_channels(conn, site_id)
    if kind is MessageKind.ALERT_ESCALATION:
        return channels.escalation_email  # the second contact, not the clinicians again
    return channels.clinician_alert_email


@dataclass(frozen=True)
class Site:
    """What delivery needs of a site, read once: its name, time zone and policies."""

    site_id: str
    name: str
    time_zone: str
    policies: SitePolicies


async def site(conn: Connection, site_id: str) -> Site:
    """The site as the registry knows it; its id, UTC and the defaults when it does not."""
    row = await conn.fetchrow("SELECT name, time_zone, policies FROM sites WHERE site_id = $1",
                              site_id)
    if row is None:
        return Site(site_id, site_id, "UTC", SitePolicies())
    return Site(site_id, row["name"] or site_id, row["time_zone"] or "UTC",
                SitePolicies.model_validate(row["policies"] or {}))


# Messages: which ones a command must look at (their state is in their streams).

async def waiting_messages(conn: Connection, now: datetime, patient_id: str | None,
                           role: RecipientRole | None, recipient_id: str | None = None
                           ) -> list[str]:
    """Messages that failed for want of an address or channel, waiting to retry."""
    rows = await conn.fetch(
        "SELECT id FROM messages WHERE status = 'pending' AND attempts > 0 AND due_at > $1"
        " AND ($2::uuid IS NULL OR patient_id = $2)"
        " AND ($3::text IS NULL OR recipient_role = $3)"
        " AND ($4::text IS NULL OR recipient_id = $4) ORDER BY due_at",
        now, patient_id, role.value if role else None, recipient_id)
    return [str(row["id"]) for row in rows]


async def pending_for_sessions(conn: Connection, patient_id: str, session_ids: list[str],
                               kind: MessageKind | None = None) -> list[str]:
    rows = await conn.fetch(
        "SELECT id FROM messages WHERE patient_id = $1 AND session_id = ANY($2::text[])"
        " AND status = 'pending' AND ($3::text IS NULL OR kind = $3) ORDER BY created_at",
        patient_id, session_ids, kind.value if kind else None)
    return [str(row["id"]) for row in rows]


async def pending_elsewhere(conn: Connection, patient_id: str, site_id: str) -> list[str]:
    """The patient's routine messages still pending at sites other than ``site_id``."""
    rows = await conn.fetch(
        "SELECT id FROM messages WHERE patient_id = $1 AND site_id <> $2"
        " AND status = 'pending' AND NOT urgent ORDER BY created_at", patient_id, site_id)
    return [str(row["id"]) for row in rows]


async def pending_of_kinds(conn: Connection, patient_id: str, kinds: Sequence[MessageKind]
                           ) -> list[tuple[str, str]]:
    """The patient's pending messages of these kinds: (id, the id of their cause)."""
    rows = await conn.fetch(
        "SELECT id, cause_id FROM messages WHERE patient_id = $1 AND status = 'pending'"
        " AND kind = ANY($2::text[]) ORDER BY created_at", patient_id, [k.value for k in kinds])
    return [(str(row["id"]), str(row["cause_id"])) for row in rows]


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
                              ) -> str | None:
    """The recipient's pending alert about the patient, else the last one sent; locked, so
    a delivery being leased waits for the cause to be placed (or the cause sees its lease)."""
    message_id = await conn.fetchval(
        "SELECT id FROM messages WHERE patient_id = $1"
        " AND kind = $2 AND recipient_role = $3 AND recipient_id = $4"
        " AND status IN ('pending', 'sent')"
        " ORDER BY status = 'pending' DESC, sent_at DESC NULLS LAST LIMIT 1 FOR UPDATE",
        patient_id, MessageKind.URGENT_ALERT.value, recipient.role.value, recipient.id)
    return str(message_id) if message_id else None


# What the API shows.

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


# The delivery job's queue.

@dataclass(frozen=True)
class Claimed:
    """A due message, leased to this worker; the rest of it is in its stream."""

    id: str
    site_id: str
    correlation_id: str
    cause_id: str


async def claim_due(conn: Connection, lease_seconds: float, site_limit: int,
                    passed: Sequence[str] = ()) -> Claimed | None:
    """The most overdue pending message not leased already (nor in ``passed``), of a site
    with fewer than ``site_limit`` sends in flight (all workers together), leased for
    ``lease_seconds``.

    The row is locked only while this transaction runs; the lease is what keeps the
    message this worker's while it is sent, outside any transaction."""
    row = await conn.fetchrow(
        "SELECT m.id::text, m.site_id, m.correlation_id, m.cause_id FROM messages m"
        " LEFT JOIN message_leases l ON l.message_id = m.id"
        " WHERE m.status = 'pending' AND m.due_at <= now()"
        " AND (l.leased_until IS NULL OR l.leased_until <= now())"
        " AND (SELECT count(*) FROM message_leases f WHERE f.site_id = m.site_id"
        "      AND f.leased_until > now()) < $1 AND m.id <> ALL($2::uuid[])"
        " ORDER BY m.urgent DESC, m.due_at LIMIT 1 FOR UPDATE OF m SKIP LOCKED",
        site_limit, list(passed))
    if row is None:
        return None
    claimed = Claimed(**dict(row))
    await lease(conn, claimed, lease_seconds)
    return claimed


async def lease(conn: Connection, claimed: Claimed, seconds: float) -> None:
    """The message is this worker's (no other claims it) for ``seconds`` from now."""
    await conn.execute(
        "INSERT INTO message_leases (message_id, site_id, leased_until)"
        " VALUES ($1::uuid, $2, now() + $3 * interval '1 second') ON CONFLICT (message_id)"
        " DO UPDATE SET leased_until = EXCLUDED.leased_until", claimed.id, claimed.site_id,
        seconds)


async def release(conn: Connection, message_id: str) -> None:
    await conn.execute("DELETE FROM message_leases WHERE message_id = $1::uuid", message_id)


async def is_leased(conn: Connection, message_id: str) -> bool:
    """A worker is sending this message now (its lease has not lapsed)."""
    return bool(await conn.fetchval(
        "SELECT 1 FROM message_leases WHERE message_id = $1::uuid AND leased_until > now()",
        message_id))


# Closed-loop alerts (domain/alerts.py): which are due to escalate, and what the API lists.

async def alerts_due_for_escalation(conn: Connection, now: datetime, after: str, limit: int
                                    ) -> list[str]:
    """Open alerts past their window at ``now``, in id order after ``after``."""
    rows = await conn.fetch(
        "SELECT alert_id::text FROM alerts WHERE status = 'open' AND escalate_at <= $1"
        " AND alert_id::text > $2 ORDER BY alert_id::text LIMIT $3", now, after, limit)
    return [str(row["alert_id"]) for row in rows]


#: An alert's reasons grow as causes fold into its message before it goes: the message's.
ALERT_COLUMNS = ("a.alert_id, a.patient_id, a.site_id,"
                 " COALESCE(m.facts -> 'alert_reasons', a.alert_reasons) AS alert_reasons,"
                 " a.status, a.raised_at, a.escalate_at, a.escalated_at, a.acknowledged_at,"
                 " a.acknowledged_by FROM alerts a LEFT JOIN messages m ON m.id = a.alert_id")


async def alerts(conn: Connection, site_id: str | None, patient_id: str | None,
                 unacknowledged: bool) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {ALERT_COLUMNS} WHERE ($1::text IS NULL OR a.site_id = $1)"
        " AND ($2::uuid IS NULL OR a.patient_id = $2)"
        " AND (NOT $3 OR a.acknowledged_at IS NULL) ORDER BY a.raised_at, a.alert_id",
        site_id, patient_id, unacknowledged)
    return [dict(row) for row in rows]


async def alert(conn: Connection, alert_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {ALERT_COLUMNS} WHERE a.alert_id = $1", alert_id)
    return dict(row) if row else None
