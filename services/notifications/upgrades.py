"""The previous release's rows (e079311), recorded as the events they stand for.

Contacts, a site's channels and templates, and every message with its delivery
log and urgent causes become private events (personal data sealed). The rows
themselves stay as they are: they are what these events project to. Nothing
is published again: a message already sent was announced by that release.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import asyncpg

from iopnet.envelope import utc_now
from iopnet.eventstore import Cause
from iopnet.migrate import DataUpgrade
from iopnet.unit_of_work import UnitOfWork
from services.notifications.commands import EVENTS
from services.notifications.domain import MessageKind, SiteChannels, Template
from services.notifications.domain.directory import Contacts, SiteSettings
from services.notifications.domain.events import (
    DeliveryAttempted,
    MessageCancelled,
    MessageQueued,
    Outcome,
    UrgentCauseFolded,
)
from services.notifications.domain.message import Message

Row = asyncpg.Record
CAUSE = Cause(correlation_id="upgrade/e079311-notifications",
              causation_id="upgrade/e079311-notifications")


async def record_previous_release(conn: asyncpg.Connection) -> None:
    uow = UnitOfWork(conn, EVENTS, CAUSE)  # no projection: the rows are already there
    await _contacts(uow)
    await _site_settings(uow)
    await _messages(uow)


async def _contacts(uow: UnitOfWork) -> None:
    for row in await uow.conn.fetch(
            "SELECT patient_id::text, site_id, email FROM patient_contacts ORDER BY updated_at"):
        contacts = await uow.load(Contacts, row["patient_id"]) or Contacts(row["patient_id"])
        contacts.set_patient_email(row["site_id"], row["email"])
        await uow.save(contacts)
    for row in await uow.conn.fetch(
            "SELECT support_person_id, patient_id::text, site_id, email"
            " FROM support_person_contacts ORDER BY updated_at"):
        contacts = await uow.load(Contacts, row["patient_id"]) or Contacts(row["patient_id"])
        contacts.set_support_person_email(row["site_id"], row["support_person_id"],
                                          row["email"])
        await uow.save(contacts)


async def _site_settings(uow: UnitOfWork) -> None:
    for row in await uow.conn.fetch(
            "SELECT site_id, clinician_alert_email, webhook_url, webhook_secret"
            " FROM site_channels ORDER BY updated_at"):
        settings = SiteSettings(row["site_id"])
        settings.set_channels(SiteChannels(**dict(row)), utc_now(), timedelta(0))
        await uow.save(settings)
    for row in await uow.conn.fetch(
            "SELECT site_id, kind, subject, body FROM site_templates ORDER BY updated_at"):
        settings = await uow.load(SiteSettings, row["site_id"]) or SiteSettings(row["site_id"])
        settings.set_template(MessageKind(row["kind"]), Template(row["subject"], row["body"]))
        await uow.save(settings)


async def _messages(uow: UnitOfWork) -> None:
    attempts = _by_message(await uow.conn.fetch(
        "SELECT message_id, attempt, at, outcome, error_class FROM delivery_log ORDER BY id"))
    causes = _by_message(await uow.conn.fetch(
        "SELECT message_id, cause_id, cause_type FROM urgent_alert_causes"
        " ORDER BY placed_at, cause_id"))
    for row in await uow.conn.fetch("SELECT * FROM messages ORDER BY created_at, id"):
        message = Message(str(row["id"]))
        _queued(message, row, causes[row["id"]])
        _attempted(message, row, attempts[row["id"]])
        if row["status"] == "cancelled":
            message.record(MessageCancelled(patient_id=str(row["patient_id"]),
                                            site_id=row["site_id"], message_id=message.id))
        await uow.save(message)


def _by_message(rows: Iterable[Row]) -> defaultdict[Any, list[Row]]:
    grouped: defaultdict[Any, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row["message_id"]].append(row)
    return grouped


def _queued(message: Message, row: Row, causes: list[Row]) -> None:
    """Queued as the row stands; an alert's other causes folded in after its first."""
    opening = [c for c in causes if c["cause_id"] == row["cause_id"]]
    patient_id = str(row["patient_id"])
    message.record(MessageQueued(
        patient_id=patient_id, site_id=row["site_id"], message_id=message.id,
        kind=row["kind"], channel=row["channel"], recipient_role=row["recipient_role"],
        recipient_id=row["recipient_id"], urgent=row["urgent"], cause_id=row["cause_id"],
        cause_type=opening[0]["cause_type"] if opening else row["cause_type"],
        correlation_id=row["correlation_id"], occurred_at=row["occurred_at"],
        facts=row["facts"], session_id=row["session_id"], due_at=row["due_at"],
        queued_at=row["created_at"], trace_context=row["trace_context"]))
    for cause in causes:
        if cause["cause_id"] != row["cause_id"]:
            message.record(UrgentCauseFolded(
                patient_id=patient_id, site_id=row["site_id"], message_id=message.id,
                cause_id=cause["cause_id"], cause_type=cause["cause_type"],
                headline_type=row["cause_type"], headline_occurred_at=row["occurred_at"],
                facts=row["facts"]))


def _attempted(message: Message, row: Row, log: list[Row]) -> None:
    """Each logged attempt. A failure that was retried went again at the next attempt's
    time; the last one, at the message's due time (which it set)."""
    failures = [i for i, entry in enumerate(log) if entry["outcome"] == Outcome.FAILED.value]
    for index, entry in enumerate(log):
        retry_at = None
        if index in failures and (index + 1 < len(log) or row["status"] == "pending"):
            retry_at = row["due_at"] if index == failures[-1] else log[index + 1]["at"]
        message.record(DeliveryAttempted(
            patient_id=str(row["patient_id"]), site_id=row["site_id"], message_id=message.id,
            attempt=entry["attempt"], outcome=Outcome(entry["outcome"]),
            error_class=entry["error_class"], at=entry["at"], retry_at=retry_at))


UPGRADES = [DataUpgrade("notifications/e079311-rows-as-events", record_previous_release)]
