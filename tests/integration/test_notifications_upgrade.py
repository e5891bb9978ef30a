"""A notifications database of the previous release (e079311): its rows become events.

Rows are written the way that release's ``store.py`` wrote them; ``migrate``
records them as private events, the reads still answer the same, the tables
rebuild from those events, and the upgraded messages live on.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from iopctl.stack import spec_of
from iopnet.catalog import RecipientRole
from iopnet.db import connect
from iopnet.eventstore import Cause
from services.notifications import commands, store
from services.notifications.domain import DeliveryStatus, MessageKind, Recipient, UrgentCause
from services.notifications.domain.message import Message
from tests.conftest import FreshDatabase
from tests.fixtures import previous_release
from tests.integration.notifications_rebuild import own_tables, rebuild_own_tables

pytestmark = pytest.mark.integration

SITE = "site-north"
PATIENT = str(uuid.uuid4())
PERSON = "sp-1"
EMAIL, KIN_EMAIL = "ada@example.org", "kin@example.org"
SECRET = "webhook-secret-0123456789"
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
WELCOME, ALERT, REMINDER, FAMILY = (uuid.uuid4() for _ in range(4))
CAUSES = ("cause-risk-1", "cause-risk-2")


async def write_previous_release_rows(conn: asyncpg.Connection) -> None:
    """What e079311's projectors, routes and delivery job left behind."""
    await conn.execute(
        "INSERT INTO patients (patient_id, site_id, status, program_id, start_date,"
        " clinician_id, baseline_phq9) VALUES ($1, $2, 'admitted', 'iop-adult', '2026-12-07',"
        " 'clin-7', 18)", PATIENT, SITE)
    await conn.execute("INSERT INTO patient_contacts (patient_id, site_id, email)"
                       " VALUES ($1, $2, $3)", PATIENT, SITE, EMAIL)
    await conn.execute(
        "INSERT INTO support_person_contacts (support_person_id, patient_id, site_id, email)"
        " VALUES ($1, $2, $3, $4)", PERSON, PATIENT, SITE, KIN_EMAIL)
    await conn.execute(
        "INSERT INTO site_channels (site_id, clinician_alert_email, webhook_url, webhook_secret)"
        " VALUES ($1, $2, $3, $4)", SITE, "alerts@north.example.org",
        "https://ehr.example.org/hook", SECRET)
    await conn.execute("INSERT INTO site_templates (site_id, kind, subject, body)"
                       " VALUES ($1, 'welcome', 'Hello from ${site_name}', 'See you.')", SITE)
    await _message(conn, WELCOME, "welcome", "patient", PATIENT, "sent", attempts=2,
                   sent_at=T0 + timedelta(minutes=5))
    await _log(conn, WELCOME, 1, "failed", "NoContactAddress", T0 + timedelta(minutes=1))
    await _log(conn, WELCOME, 2, "sent", None, T0 + timedelta(minutes=5))
    facts = {"alert_reason": "phq9_item9", "alert_reasons": ["cssrs_high", "phq9_item9"],
             "causes": [{"type": "iopnet.RiskSignalRaised", "event_id": cause,
                         "occurred_at": T0.isoformat(), "alert_reason": reason}
                        for cause, reason in zip(CAUSES, ("cssrs_high", "phq9_item9"),
                                                 strict=True)],
             "follow_up": False}
    await _message(conn, ALERT, "urgent_alert", "clinician", SITE, "pending", urgent=True,
                   cause_id=CAUSES[0], facts=facts)
    for cause in CAUSES:
        await conn.execute(
            "INSERT INTO urgent_alert_causes (cause_id, recipient_role, recipient_id,"
            " message_id, patient_id, site_id, cause_type) VALUES ($1, 'clinician', $2, $3,"
            " $4, $2, 'iopnet.RiskSignalRaised')", cause, SITE, ALERT, PATIENT)
    await _message(conn, REMINDER, "session_reminder", "patient", PATIENT, "cancelled",
                   session_id="s-1")
    await _message(conn, FAMILY, "family_progress_update", "support_person", PERSON,
                   "withheld")
    await _log(conn, FAMILY, 0, "withheld", "NoLiveConsent", T0 + timedelta(minutes=2))


async def _message(conn: asyncpg.Connection, message_id: uuid.UUID, kind: str, role: str,
                   recipient_id: str, status: str, *, attempts: int = 0,
                   sent_at: datetime | None = None, urgent: bool = False,
                   cause_id: str | None = None, facts: dict[str, object] | None = None,
                   session_id: str | None = None) -> None:
    channel = "webhook" if role == "site" else "email"
    await conn.execute(
        "INSERT INTO messages (id, patient_id, site_id, kind, channel, recipient_role,"
        " recipient_id, urgent, cause_id, cause_type, correlation_id, occurred_at, facts,"
        " session_id, status, due_at, attempts, sent_at, created_at) VALUES ($1, $2, $3, $4,"
        " $5, $6, $7, $8, $9, 'iopnet.RiskSignalRaised', 'corr-1', $10, $11, $12, $13, $14,"
        " $15, $16, $17)", message_id, PATIENT, SITE, kind, channel, role, recipient_id,
        urgent, cause_id or f"cause-{message_id}", T0, json.dumps(facts or {}), session_id,
        status, T0 + timedelta(hours=1), attempts, sent_at, T0)


async def _log(conn: asyncpg.Connection, message_id: uuid.UUID, attempt: int, outcome: str,
               error_class: str | None, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO delivery_log (message_id, site_id, attempt, at, outcome, error_class)"
        " VALUES ($1, $2, $3, $4, $5, $6)", message_id, SITE, attempt, at, outcome,
        error_class)


#: Times the upgrade cannot know: when a row was last written (its events are recorded now).
WRITE_TIMES = ("updated_at", "placed_at")


async def test_previous_release_rows_become_events_and_read_the_same(
    fresh_empty_database: FreshDatabase,
) -> None:
    dsn = await fresh_empty_database("upgrade_notifications_rows")
    await previous_release.build_database(dsn, "notifications")
    old = await asyncpg.connect(dsn)
    try:
        await write_previous_release_rows(old)
    finally:
        await old.close()

    applied = await spec_of("notifications").migrate(dsn)
    assert "upgrade/notifications/e079311-rows-as-events" in applied
    assert await spec_of("notifications").migrate(dsn) == []
    conn = await connect(dsn)
    try:
        await _the_facts_are_events(conn)
        await _the_reads_answer_the_same(conn)
        upgraded = await own_tables(conn, ignoring=WRITE_TIMES)
        async with conn.transaction():
            await rebuild_own_tables(conn)
        assert await own_tables(conn, ignoring=WRITE_TIMES) == upgraded
        await _the_upgraded_messages_live_on(conn)
    finally:
        await conn.close()


async def _the_facts_are_events(conn: asyncpg.Connection) -> None:
    kinds = {row["event_type"]: row["count"] for row in await conn.fetch(
        "SELECT event_type, count(*) FROM events GROUP BY event_type")}
    assert kinds == {
        "iopnet.PatientContactSet": 1, "iopnet.SupportPersonContactSet": 1,
        "iopnet.SiteChannelsSet": 1, "iopnet.SiteTemplateSet": 1, "iopnet.MessageQueued": 4,
        "iopnet.UrgentCauseFolded": 1, "iopnet.DeliveryAttempted": 3,
        "iopnet.MessageCancelled": 1}
    assert await conn.fetchval("SELECT count(*) FROM outbox") == 0  # nothing published again
    assert not await conn.fetchval("SELECT bool_or(published) FROM events")
    stored = await conn.fetchval("SELECT string_agg(envelope::text, '') FROM events")
    assert EMAIL not in stored and KIN_EMAIL not in stored and "phq9_item9" not in stored


async def _the_reads_answer_the_same(conn: asyncpg.Connection) -> None:
    assert await store.email_address(conn, PATIENT, RecipientRole.PATIENT, PATIENT,
                                     SITE) == EMAIL
    assert await store.email_address(conn, PATIENT, RecipientRole.SUPPORT_PERSON, PERSON,
                                     SITE) == KIN_EMAIL
    assert (await store.site_channels(conn, SITE)).webhook_secret == SECRET
    assert (await store.template_for(conn, SITE, MessageKind.WELCOME)).subject == (
        "Hello from ${site_name}")
    statuses = {m["id"]: (m["status"], m["attempts"]) for m in await store.messages_for(
        conn, PATIENT)}
    assert statuses == {WELCOME: ("sent", 2), ALERT: ("pending", 0),
                        REMINDER: ("cancelled", 0), FAMILY: ("withheld", 0)}
    log = await store.deliveries_of(conn, WELCOME)
    assert [(d["attempt"], d["outcome"], d["error_class"]) for d in log or []] == [
        (1, "failed", "NoContactAddress"), (2, "sent", None)]


async def _the_upgraded_messages_live_on(conn: asyncpg.Connection) -> None:
    """The pending alert is loaded from its stream, and a new cause folds into it."""
    uow = commands.unit_of_work(conn, Cause("corr-2", "cause-risk-3"))
    alert = await uow.load(Message, str(ALERT))
    assert alert is not None and alert.status is DeliveryStatus.PENDING
    assert [c.event_id for c in alert.latest_alert().causes] == list(CAUSES)
    welcome = await uow.load(Message, str(WELCOME))
    assert welcome is not None and (welcome.status, welcome.attempts) == (DeliveryStatus.SENT, 2)
    async with conn.transaction():
        alert.fold(a_third_cause())
        await uow.save(alert)
    assert await store.urgent_cause_placed(conn, "cause-risk-3", Recipient.clinician(SITE))
    [row] = [m for m in await store.messages_for(conn, PATIENT) if m["id"] == ALERT]
    assert row["facts"]["alert_reasons"] == ["cssrs_high", "phq9_item9", "cssrs_high"]


def a_third_cause() -> UrgentCause:
    return UrgentCause("cause-risk-3", "iopnet.RiskSignalRaised", T0 + timedelta(hours=2),
                       {"alert_reason": "cssrs_high"})


async def test_a_new_database_has_nothing_to_upgrade(fresh_empty_database: FreshDatabase
                                                      ) -> None:
    dsn = await fresh_empty_database("upgrade_notifications_empty")
    assert "upgrade/notifications/e079311-rows-as-events" in await spec_of(
        "notifications").migrate(dsn)
    conn = await connect(dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM events") == 0
    finally:
        await conn.close()
