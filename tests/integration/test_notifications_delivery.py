"""Notifications on the real Postgres, delivering to a real SMTP server and a real webhook.

The projectors are fed events as the consumer runner would; the delivery job's
functions run in-process against a fresh database with notifications' schema.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from iopnet import data_keys
from iopnet.auth import Principal, SiteDatabase
from iopnet.auth.keys import new_key
from iopnet.auth.registry import on_api_key_issued, on_site_onboarded
from iopnet.catalog import (
    SCOPE_COVERS,
    AdmissionDeclined,
    AttendanceBelowMinimum,
    ConsentGranted,
    ConsentRevoked,
    ConsentScope,
    CssrsDue,
    Discharged,
    DischargeOutcome,
    DomainEvent,
    ExitSummarized,
    LevelOfCare,
    Modality,
    PatientAdmitted,
    PatientCertified,
    PatientForgotten,
    PatientReferred,
    Phq9Trend,
    ProgressJudged,
    ReferralSource,
    Relationship,
    RiskSignal,
    RiskSignalRaised,
    ScheduledSession,
    ScheduleRefused,
    Scope,
    SessionKind,
    SessionsCancelled,
    SessionScheduled,
    SessionsScheduled,
    SiteOnboarded,
    SitePolicies,
    SteppedDown,
    SteppedUp,
    SupportPersonLinked,
    parse_event,
)
from iopnet.catalog.network import ApiKeyIssued
from iopnet.db import create_pool
from iopnet.envelope import EventEnvelope, new_id, utc_now
from iopnet.eventstore import Cause, EventStore
from iopnet.migrate import apply_migrations
from services.notifications import commands, store
from services.notifications import settings as notification_settings
from services.notifications.consumed import PROJECTION
from services.notifications.delivery import (
    Dispatcher,
    Postman,
    deliver_all_due,
    deliver_due_messages,
)
from services.notifications.domain import MessageKind, SiteChannels, Template
from services.notifications.domain.message import Message
from services.notifications.domain.messages import MessageDraft, Occasion, Recipient
from services.notifications.escalation import escalate_overdue_alerts
from services.notifications.service import SPEC
from services.notifications.settings import NotificationsSettings
from tests.conftest import FreshDatabase, eventually, free_port
from tests.e2e.receivers import MailCatcher, WebhookReceiver
from tests.fixtures.dates import SITE_TIME_ZONE
from tests.integration.notifications_rebuild import (
    OWN_TABLES,
    own_tables,
    plain_text_of,
    rebuild_own_tables,
)

pytestmark = pytest.mark.integration

SITE = "site-north"
CAUSE = Cause(correlation_id="test", causation_id="test")
SECRET = "webhook-secret-0123456789"
CLINIC_EMAIL = "alerts@north.example.org"
NO_QUIET_HOURS = SitePolicies(quiet_hours_start=time(0, 0), quiet_hours_end=time(0, 0))


def quiet_now() -> SitePolicies:
    """Quiet hours from an hour ago to two hours ahead at the site (any time of day works;
    00:00-23:59 would let the last minute of the day through)."""
    now = datetime.now(ZoneInfo(SITE_TIME_ZONE))
    return SitePolicies(quiet_hours_start=(now - timedelta(hours=1)).time().replace(microsecond=0),
                        quiet_hours_end=(now + timedelta(hours=2)).time().replace(microsecond=0))


@pytest.fixture(scope="module")
def mail() -> Iterator[MailCatcher]:
    catcher = MailCatcher().start()
    yield catcher
    catcher.stop()


@pytest.fixture(scope="module")
def hooks() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(SECRET).start()
    yield receiver
    receiver.stop()


@dataclass
class Notifications:
    """Notifications' database, fed events as its consumer would, and its postman."""

    pool: asyncpg.Pool
    settings: NotificationsSettings
    postman: Postman

    async def apply(self, event: DomainEvent, *, correlation_id: str | None = None,
                    event_id: str | None = None, at: datetime | None = None) -> EventEnvelope:
        envelope = EventEnvelope(
            id=event_id or new_id(), time=at or utc_now(), source="/iopnet/test",
            type=event.event_type,
            subject=event.subject, siteid=event.site_id, streamid=f"test-{event.subject}",
            streamversion=1, correlationid=correlation_id or new_id(), causationid=new_id(),
            schemaversion=event.schema_version, data=event.model_dump(mode="json"))
        projector = PROJECTION.projector_for(envelope)
        assert projector is not None
        async with self.pool.acquire() as conn, conn.transaction():
            await projector(conn, parse_event(envelope), envelope)
        return envelope

    async def deliver(self) -> None:
        await deliver_all_due(self.pool, self.postman, self.settings)

    async def messages(self, patient_id: str) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            return await store.messages_for(conn, patient_id)

    async def log(self, message_id: uuid.UUID) -> list[tuple[int, str, str | None]]:
        async with self.pool.acquire() as conn:
            rows = await store.deliveries_of(conn, message_id)
        assert rows is not None
        return [(r["attempt"], r["outcome"], r["error_class"]) for r in rows]

    async def set_policies(self, policies: SitePolicies) -> None:
        await self.pool.execute("UPDATE sites SET policies = $2 WHERE site_id = $1", SITE,
                                policies.model_dump(mode="json"))

    async def make_due_now(self) -> None:
        await self.pool.execute("UPDATE messages SET due_at = now() WHERE status = 'pending'")


@pytest.fixture
async def notifications(fresh_database: FreshDatabase, mail: MailCatcher,
                        hooks: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
                        ) -> AsyncIterator[Notifications]:
    monkeypatch.setenv("IOPNET_SCHEDULE_BATCH_SETTLE_SECONDS", "0")
    monkeypatch.setenv("IOPNET_URGENT_ALERT_GATHER_SECONDS", "0")
    monkeypatch.setenv("IOPNET_WEBHOOK_ALLOW_INTERNAL_ADDRESSES", "true")  # the receivers
    notification_settings.current.cache_clear()
    dsn = await fresh_database("notifications")
    await apply_migrations(dsn, [Path("services/notifications/migrations")])
    settings = NotificationsSettings(
        database_url=dsn, smtp_port=mail.port, delivery_backoff_seconds=0.05,
        delivery_poll_seconds=0.1, schedule_batch_settle_seconds=0,
        webhook_timeout_seconds=5, webhook_allow_internal_addresses=True)
    pool = await create_pool(dsn)
    async with pool.acquire() as conn:
        onboarded = SiteOnboarded(site_id=SITE, name="North Clinic",
                                  time_zone=SITE_TIME_ZONE, policies=NO_QUIET_HOURS)
        await on_site_onboarded(conn, onboarded, _envelope_of(onboarded))
        await commands.set_channels(commands.unit_of_work(conn, CAUSE),
                                    SiteChannels(SITE, CLINIC_EMAIL, hooks.url, SECRET))
    hooks.received.clear()
    yield Notifications(pool, settings, Postman.of(settings))
    await pool.close()
    notification_settings.current.cache_clear()


def _envelope_of(event: SiteOnboarded) -> EventEnvelope:
    """As intake would record it (a projector takes the row's time from it)."""
    return EventStore.of("intake").envelopes(f"site-{event.site_id}", 0, [event], CAUSE)[0]


async def set_patient_email(n: Notifications, patient_id: str, email: str) -> None:
    async with n.pool.acquire() as conn, conn.transaction():
        await commands.set_patient_contact(commands.unit_of_work(conn, CAUSE), patient_id, email)


def patient_email(patient_id: str) -> str:
    return f"patient-{patient_id}@example.org"


async def admitted(n: Notifications, *, with_email: bool = True) -> str:
    patient_id = str(uuid.uuid4())
    await n.apply(PatientReferred(patient_id=patient_id, site_id=SITE, referral_id="r-1",
                                  source=ReferralSource.PROVIDER, referred_on=date(2026, 11, 20)))
    if with_email:
        await set_patient_email(n, patient_id, patient_email(patient_id))
    await n.apply(PatientAdmitted(patient_id=patient_id, site_id=SITE, program_id="iop-adult",
                                  start_date=date(2026, 12, 7), days_per_week=4,
                                  planned_weeks=10, clinician_id="clin-7", baseline_phq9=18))
    return patient_id


def only(messages: list[dict[str, Any]], kind: str, role: str = "patient") -> dict[str, Any]:
    [message] = [m for m in messages if m["kind"] == kind and m["recipient_role"] == role]
    return message


async def test_admission_welcomes_the_patient_by_email_once(
    notifications: Notifications, mail: MailCatcher,
) -> None:
    n = notifications
    patient_id = await admitted(n)
    await n.deliver()

    [email] = mail.to(patient_email(patient_id), "welcome")
    assert MailCatcher.subject(email) == "Welcome to North Clinic"
    assert "4 days a week for 10 weeks" in MailCatcher.text(email)
    welcome = only(await n.messages(patient_id), "welcome")
    assert (welcome["status"], welcome["attempts"], welcome["channel"]) == ("sent", 1, "email")
    assert await n.log(welcome["id"]) == [(1, "sent", None)]
    sent = await n.pool.fetchval(
        "SELECT envelope FROM events WHERE event_type = 'iopnet.NotificationSent'")
    assert sent["data"]["message_id"] == str(welcome["id"])
    assert sent["data"]["recipient_role"] == "patient"
    assert await n.pool.fetchval("SELECT count(*) FROM outbox") == 1

    # The same admission delivered again queues and sends nothing more.
    [envelope_id] = [welcome["cause_id"]]
    event = PatientAdmitted(patient_id=patient_id, site_id=SITE, program_id="iop-adult",
                            start_date=date(2026, 12, 7), days_per_week=4, planned_weeks=10,
                            clinician_id="clin-7", baseline_phq9=18)
    await n.apply(event, event_id=envelope_id)
    await n.deliver()
    assert len(mail.to(patient_email(patient_id), "welcome")) == 1
    assert len(await n.messages(patient_id)) == 1


async def test_a_risk_signal_alerts_the_clinician_and_the_site_even_in_quiet_hours(
    notifications: Notifications, mail: MailCatcher, hooks: WebhookReceiver,
) -> None:
    n = notifications
    quiet = quiet_now()
    await n.set_policies(quiet)
    patient_id = await admitted(n)
    await n.apply(RiskSignalRaised(patient_id=patient_id, site_id=SITE,
                                   signal=RiskSignal.PHQ9_ITEM9, observed_on=date(2026, 12, 8)))
    await n.deliver()

    [alert] = [m for m in mail.to(CLINIC_EMAIL, "urgent_alert")
               if patient_id in str(m["Subject"])]
    assert MailCatcher.subject(alert).startswith("URGENT")
    assert "phq9 item9" in MailCatcher.text(alert)
    [payload] = [p for p in hooks.payloads() if p["patient_id"] == patient_id]
    [cause] = payload.pop("causes")
    assert payload | {"message_id": "-", "occurred_at": "-"} == {
        "type": "iopnet.RiskSignalRaised", "kind": "urgent_alert", "patient_id": patient_id,
        "site_id": SITE, "alert_reason": "phq9_item9", "observed_on": "2026-12-08",
        "clinician_id": "", "message_id": "-", "occurred_at": "-",
        "alert_reasons": ["phq9_item9"], "follow_up": False}
    assert cause | {"event_id": "-", "occurred_at": "-"} == {
        "type": "iopnet.RiskSignalRaised", "alert_reason": "phq9_item9",
        "observed_on": "2026-12-08", "clinician_id": "", "event_id": "-", "occurred_at": "-"}
    assert hooks.rejected == []

    # The welcome can wait: it is deferred to the end of quiet hours, not sent.
    welcome = only(await n.messages(patient_id), "welcome")
    assert (welcome["status"], welcome["attempts"]) == ("pending", 0)
    local_due = welcome["due_at"].astimezone(ZoneInfo(SITE_TIME_ZONE))
    assert local_due.time() == quiet.quiet_hours_end
    assert mail.to(patient_email(patient_id)) == []


async def test_an_urgent_decline_alerts_without_an_admission(
    notifications: Notifications, hooks: WebhookReceiver,
) -> None:
    n = notifications
    patient_id = str(uuid.uuid4())
    await n.apply(AdmissionDeclined(patient_id=patient_id, site_id=SITE,
                                    recommended_level=LevelOfCare.INPATIENT,
                                    reason_codes=["cssrs_high"], urgent=True))
    await n.deliver()
    messages = await n.messages(patient_id)
    assert {(m["recipient_role"], m["status"], m["urgent"]) for m in messages} == {
        ("clinician", "sent", True), ("site", "sent", True)}
    [payload] = [p for p in hooks.payloads() if p["patient_id"] == patient_id]
    assert payload["recommended_level"] == "inpatient"
    assert payload["reason_codes"] == ["cssrs_high"]


async def test_a_refused_webhook_is_retried_with_backoff_until_it_is_accepted(
    notifications: Notifications, hooks: WebhookReceiver,
) -> None:
    n = notifications
    patient_id = await admitted(n)
    hooks.fail_next(2)
    await n.apply(SteppedDown(patient_id=patient_id, site_id=SITE,
                              effective_on=date(2027, 2, 1), aftercare=["weekly_therapy"],
                              follow_up_within_days=7))
    for _ in range(3):
        await n.deliver()
        await asyncio.sleep(0.25)  # backoff is 0.05 s x 2^n here
    webhook = only(await n.messages(patient_id), "aftercare_summary", "site")
    assert (webhook["status"], webhook["attempts"]) == ("sent", 3)
    assert await n.log(webhook["id"]) == [
        (1, "failed", "WebhookRefused"), (2, "failed", "WebhookRefused"), (3, "sent", None)]
    [payload] = [p for p in hooks.payloads() if p["patient_id"] == patient_id]
    assert payload["aftercare"] == ["weekly_therapy"]


async def test_a_message_that_keeps_failing_fails_after_six_attempts(
    notifications: Notifications,
) -> None:
    n = notifications
    dead_smtp = replace(n.postman, settings=n.settings.model_copy(
        update={"smtp_port": free_port()}))
    patient_id = await admitted(n)
    for _ in range(8):
        await deliver_all_due(n.pool, dead_smtp, n.settings)
        await n.make_due_now()
    welcome = only(await n.messages(patient_id), "welcome")
    assert (welcome["status"], welcome["attempts"]) == ("failed", 6)
    log = await n.log(welcome["id"])
    assert [attempt for attempt, _, _ in log] == [1, 2, 3, 4, 5, 6]
    assert {error for _, _, error in log} == {"ConnectionRefusedError"}


async def test_a_missing_address_is_retried_and_goes_once_the_address_is_known(
    notifications: Notifications, mail: MailCatcher,
) -> None:
    n = notifications
    patient_id = await admitted(n, with_email=False)
    await n.deliver()
    welcome = only(await n.messages(patient_id), "welcome")
    assert await n.log(welcome["id"]) == [(1, "failed", "NoContactAddress")]
    address = f"late-{patient_id[:8]}@example.org"
    await set_patient_email(n, patient_id, address)
    await n.deliver()
    assert len(mail.to(address, "welcome")) == 1


async def test_family_hear_only_within_live_consent_checked_again_when_sending(
    notifications: Notifications, mail: MailCatcher,
) -> None:
    n = notifications
    patient_id = await admitted(n)
    for person in ("sp-1", "sp-2"):
        await n.apply(SupportPersonLinked(patient_id=patient_id, site_id=SITE,
                                          support_person_id=f"{person}-{patient_id}",
                                          relationship=Relationship.PARTNER))
        async with n.pool.acquire() as conn, conn.transaction():
            await commands.set_support_person_contact(
                commands.unit_of_work(conn, CAUSE), f"{person}-{patient_id}", patient_id,
                f"{person}-{patient_id}@example.org")
    sp1, sp2 = f"sp-1-{patient_id}", f"sp-2-{patient_id}"
    await n.apply(ConsentGranted(patient_id=patient_id, site_id=SITE, consent_id=f"c1-{sp1}",
                                 support_person_id=sp1, scope=ConsentScope.PROGRESS_SUMMARIES,
                                 covers=sorted(SCOPE_COVERS[ConsentScope.PROGRESS_SUMMARIES])))
    await n.apply(ConsentGranted(patient_id=patient_id, site_id=SITE, consent_id=f"c2-{sp2}",
                                 support_person_id=sp2, scope=ConsentScope.SCHEDULE,
                                 covers=[ConsentScope.SCHEDULE]))

    # A batch of scheduled sessions: one schedule update per person who may know it.
    batch = new_id()
    starts = utc_now() + timedelta(days=3)
    await n.apply(_schedule(patient_id, *((f"s{day}", starts + timedelta(days=day))
                                          for day in range(2))), correlation_id=batch)
    await n.apply(_session(patient_id, "s2", starts + timedelta(days=2)),  # an older producer
                  correlation_id=batch)
    # Plans judged a PHQ-9: a progress update to sp-1 only (sp-2 may see the schedule only).
    await n.apply(_judged(patient_id, "m-1"))
    family = [m for m in await n.messages(patient_id) if m["recipient_role"] == "support_person"]
    assert sorted((m["kind"], m["recipient_id"]) for m in family) == [
        ("family_progress_update", sp1),
        ("family_schedule_update", sp1), ("family_schedule_update", sp2)]

    # sp-1's consent is revoked after the messages were queued: nothing reaches sp-1.
    await n.apply(ConsentRevoked(patient_id=patient_id, site_id=SITE, consent_id=f"c1-{sp1}",
                                 support_person_id=sp1))
    await n.deliver()
    assert mail.to(f"{sp1}@example.org") == []
    [update] = mail.to(f"{sp2}@example.org", "family_schedule_update")
    assert "3 upcoming sessions" in MailCatcher.text(update)
    statuses = {(m["kind"], m["recipient_id"]): m["status"]
                for m in await n.messages(patient_id) if m["recipient_role"] == "support_person"}
    assert statuses == {("family_progress_update", sp1): "withheld",
                        ("family_schedule_update", sp1): "withheld",
                        ("family_schedule_update", sp2): "sent"}


def _judged(patient_id: str, measure_id: str) -> ProgressJudged:
    """Plans' judgement of a PHQ-9 of 8 against a baseline of 18: a response."""
    return ProgressJudged(patient_id=patient_id, site_id=SITE, measure_id=measure_id,
                          measured_on=date(2026, 12, 14), program_week=2, baseline_phq9=18,
                          total=8, trend=Phq9Trend.IMPROVING, response=True, remission=False)


async def test_a_consents_expiry_is_judged_on_the_sites_date_when_the_message_goes(
    notifications: Notifications, mail: MailCatcher, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At 03:00 UTC it is still the evening before at the site (America/Chicago): a
    consent expiring that site day still lets the message go. The UTC date says the
    consent has expired; a family is told or not by the site's calendar."""
    n = notifications
    utc_day = datetime.now(UTC).date() - timedelta(days=2)  # past: the message is due
    sent_at = datetime.combine(utc_day, time(3, 0), tzinfo=UTC)
    site_day = sent_at.astimezone(ZoneInfo(SITE_TIME_ZONE)).date()
    assert site_day == utc_day - timedelta(days=1)
    patient_id = await admitted(n)
    person = f"sp-{patient_id}"
    await n.apply(SupportPersonLinked(patient_id=patient_id, site_id=SITE,
                                      support_person_id=person,
                                      relationship=Relationship.SIBLING))
    async with n.pool.acquire() as conn, conn.transaction():
        await commands.set_support_person_contact(commands.unit_of_work(conn, CAUSE), person,
                                                  patient_id, f"{person}@example.org")
    await n.apply(ConsentGranted(patient_id=patient_id, site_id=SITE, consent_id=f"c-{person}",
                                 support_person_id=person, scope=ConsentScope.PROGRESS_SUMMARIES,
                                 covers=sorted(SCOPE_COVERS[ConsentScope.PROGRESS_SUMMARIES]),
                                 expires_on=site_day))
    monkeypatch.setattr(commands, "utc_now", lambda: sent_at)
    await n.apply(_judged(patient_id, "m-1").model_copy(update={"measured_on": site_day}),
                  at=sent_at)
    await n.deliver()

    assert len(mail.to(f"{person}@example.org", "family_progress_update")) == 1
    [message] = [m for m in await n.messages(patient_id) if m["recipient_id"] == person]
    assert message["status"] == "sent"


def _session(patient_id: str, session_id: str, starts_at: datetime) -> SessionScheduled:
    """One session, one event: what an older producer publishes."""
    return SessionScheduled(patient_id=patient_id, site_id=SITE, session_id=session_id,
                            kind=SessionKind.GROUP, modality=Modality.GROUP_THERAPY,
                            starts_at=starts_at, duration_minutes=180, clinician_id="clin-7")


def _schedule(patient_id: str, *sessions: tuple[str, datetime], waitlisted: bool = False
              ) -> SessionsScheduled:
    return SessionsScheduled(patient_id=patient_id, site_id=SITE, sessions=[
        ScheduledSession(session_id=session_id, kind=SessionKind.GROUP,
                         modality=Modality.GROUP_THERAPY, starts_at=starts_at,
                         duration_minutes=180, clinician_id="clin-7", waitlisted=waitlisted)
        for session_id, starts_at in sessions])


async def test_reminders_wait_in_postgres_and_are_cancelled_with_their_sessions(
    notifications: Notifications, mail: MailCatcher,
) -> None:
    n = notifications
    patient_id = await admitted(n)
    soon = utc_now() + timedelta(hours=2)
    later = utc_now() + timedelta(days=5)
    await n.apply(_session(patient_id, "s-soon", soon))
    await n.apply(_schedule(patient_id, ("s-later", later),
                            ("s-cancelled", later + timedelta(days=1))))
    await n.apply(SessionsCancelled(patient_id=patient_id, site_id=SITE,
                                    session_ids=["s-cancelled"], reason="SteppedDown"))
    await n.deliver()

    reminders = {m["facts"]["session_id"]: m for m in await n.messages(patient_id)
                 if m["kind"] == "session_reminder"}
    assert reminders["s-soon"]["status"] == "sent"  # within a day: reminded at once
    assert reminders["s-later"]["status"] == "pending"
    assert reminders["s-later"]["due_at"] == later - timedelta(hours=24)
    assert reminders["s-cancelled"]["status"] == "cancelled"
    assert len(mail.to(patient_email(patient_id), "session_reminder")) == 1


async def test_a_schedule_reminds_of_each_place_and_replaces_what_it_reschedules(
    notifications: Notifications,
) -> None:
    n = notifications
    patient_id = await admitted(n)
    later = utc_now() + timedelta(days=5)
    await n.apply(_session(patient_id, "s-1", later))  # an older producer's, one a session
    await n.apply(_schedule(patient_id, ("s-9", later), waitlisted=True))
    moved = later + timedelta(hours=1)
    schedule = await n.apply(_schedule(patient_id, ("s-1", moved), ("s-2", later)))
    reminders = [(m["facts"]["session_id"], m["status"], m["due_at"], m["cause_id"])
                 for m in await n.messages(patient_id) if m["kind"] == "session_reminder"]
    day = timedelta(hours=24)
    assert sorted(r for r in reminders if r[1] == "pending") == [
        ("s-1", "pending", moved - day, schedule.id), ("s-2", "pending", later - day, schedule.id)]
    assert [r[:2] for r in reminders if r[1] != "pending"] == [("s-1", "cancelled")]
    async with n.pool.acquire() as conn:
        rows = await conn.fetch("SELECT session_id, cancelled FROM scheduled_sessions"
                                " WHERE patient_id = $1 ORDER BY session_id", patient_id)
    assert [tuple(r) for r in rows] == [("s-1", False), ("s-2", False)]  # no waitlist place

    # Redelivered (the inbox would drop it; the reaction queues nothing twice either).
    await n.apply(_schedule(patient_id, ("s-1", moved), ("s-2", later)), event_id=schedule.id)
    assert len([m for m in await n.messages(patient_id) if m["kind"] == "session_reminder"]) == 3


async def test_queueing_a_batch_reads_and_writes_its_streams_at_once_and_queues_each_once(
    notifications: Notifications,
) -> None:
    n = notifications
    patient_id, forgotten_id, now = str(uuid.uuid4()), str(uuid.uuid4()), utc_now()

    def draft(patient: str, occasion: Occasion) -> MessageDraft:
        return MessageDraft(patient, SITE, MessageKind.AFTERCARE_SUMMARY, Recipient.site(SITE),
                            occasion, now + timedelta(days=1), facts={"follow_up_within_days": 7})

    first, second, third = (Occasion(new_id(), "iopnet.SteppedDown", new_id(), now)
                            for _ in range(3))
    async with n.pool.acquire() as conn, conn.transaction():
        await data_keys.key_for(conn, forgotten_id)
        await data_keys.destroy_key(conn, forgotten_id)
        assert await commands.queue_messages(commands.unit_of_work(conn, CAUSE), [
            draft(patient_id, first)]) == 1
    async with n.pool.acquire() as conn, conn.transaction():
        assert await commands.queue_messages(commands.unit_of_work(conn, CAUSE), [
            draft(patient_id, first), draft(patient_id, second), draft(patient_id, second),
            draft(patient_id, third), draft(forgotten_id, third)]) == 2

    queued = await n.messages(patient_id)
    assert sorted(m["cause_id"] for m in queued) == sorted([first.cause_id, second.cause_id,
                                                            third.cause_id])
    assert {m["facts"]["follow_up_within_days"] for m in queued} == {7}
    assert await n.messages(forgotten_id) == []
    versions = await n.pool.fetch("SELECT version FROM event_streams"
                                  " WHERE stream_id LIKE $1", f"{Message.stream_prefix}-%")
    assert [v["version"] for v in versions] == [1, 1, 1]


async def test_the_job_wakes_on_notify_and_stops_when_told(
    notifications: Notifications, mail: MailCatcher, monkeypatch: pytest.MonkeyPatch,
) -> None:
    n = notifications
    slow_poll = n.settings.model_copy(update={"delivery_poll_seconds": 3600})
    rounds = [0]
    fill = Dispatcher.fill

    async def counted(dispatcher: Dispatcher, stop: asyncio.Event | None = None) -> None:
        await fill(dispatcher, stop)
        rounds[0] += 1

    monkeypatch.setattr(Dispatcher, "fill", counted)
    stop = asyncio.Event()
    job = asyncio.create_task(deliver_due_messages(n.pool, slow_poll, stop))
    # Listening since before its first round; after it, idle until woken (the poll is an hour).
    await eventually(lambda: asyncio.sleep(0, rounds[0] >= 1), timeout=30)
    address = f"woken-{uuid.uuid4().hex[:8]}@example.org"
    patient_id = str(uuid.uuid4())
    await n.apply(PatientReferred(patient_id=patient_id, site_id=SITE, referral_id="r",
                                  source=ReferralSource.SELF, referred_on=date(2026, 11, 1)))
    await set_patient_email(n, patient_id, address)
    await n.apply(PatientAdmitted(patient_id=patient_id, site_id=SITE, program_id="iop-adult",
                                  start_date=date(2026, 12, 7), days_per_week=3,
                                  planned_weeks=8, clinician_id="clin-7", baseline_phq9=15))

    async def delivered() -> bool:
        return len(mail.to(address)) == 1

    await eventually(delivered, timeout=30)  # woken by NOTIFY: the poll is an hour away
    stop.set()
    await asyncio.wait_for(job, timeout=30)


async def test_a_round_of_claims_that_need_no_send_ends_when_told_to_stop(
    notifications: Notifications, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Messages without an address free no send slot: a round claims every due one, and
    with thousands due it ran on long after SIGTERM."""
    n = notifications
    for _ in range(4):
        await admitted(n, with_email=False)  # each welcome due, and undeliverable
    stop, claims = asyncio.Event(), [0]
    claim_next = Dispatcher._claim_next

    async def told_to_stop_after_two(dispatcher: Dispatcher, passed: list[str]) -> bool:
        claims[0] += 1
        if claims[0] == 2:
            stop.set()
        return await claim_next(dispatcher, passed)

    monkeypatch.setattr(Dispatcher, "_claim_next", told_to_stop_after_two)
    await Dispatcher.of(n.pool, n.postman, n.settings).fill(stop)
    assert claims[0] == 2
    attempted = await n.pool.fetchval("SELECT count(*) FROM delivery_log")
    assert attempted == 2


async def test_another_sites_caller_sees_none_of_the_messages(
    notifications: Notifications,
) -> None:
    n = notifications
    patient_id = await admitted(n)
    south = Principal("k", "site-south", frozenset({Scope.READ}), 600)
    async with SiteDatabase(n.pool, south).transaction() as conn:
        assert await store.messages_for(conn, patient_id) == []
        assert await store.find_patient(conn, patient_id) is None
        assert await conn.fetchval("SELECT count(*) FROM site_channels") == 0
        assert await conn.fetchval("SELECT count(*) FROM patient_contacts") == 0


async def test_the_api_sets_contacts_channels_and_templates_and_lists_messages(
    notifications: Notifications, mail: MailCatcher,
) -> None:
    n = notifications
    key = new_key()
    async with n.pool.acquire() as conn:
        await on_api_key_issued(conn, ApiKeyIssued(
            site_id=SITE, key_id=key.key_id, secret_sha256=key.secret_sha256,
            scopes=[Scope.READ, Scope.NOTIFICATIONS_ADMIN]), _issued_envelope())
    app = _app(n)
    headers = {"Authorization": f"Bearer {key.plaintext}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://notifications", headers=headers) as api:
        patient_id = await admitted(n, with_email=False)
        unknown = await api.put(f"/v1/patients/{uuid.uuid4()}/contact",
                                json={"email": "x@example.org"})
        assert unknown.status_code == 404
        bad = await api.put(f"/v1/patients/{patient_id}/contact", json={"email": "nope"})
        assert bad.status_code == 422
        assert [e["pointer"] for e in bad.json()["errors"]] == ["#/email"]

        template = {"subject": "Hello from ${site_name}",
                    "body": "Dear patient, see you on ${start_date}."}
        assert (await api.put(f"/v1/sites/{SITE}/templates/welcome",
                              json=template)).status_code == 200
        refused = await api.put(f"/v1/sites/{SITE}/templates/welcome",
                                json={**template, "body": "Dear ${given_name}"})
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["pointer"] == "#/body"
        other_site = await api.put("/v1/sites/site-south/channels",
                                   json={"clinician_alert_email": "a@b.org"})
        assert other_site.status_code == 403
        http_hook = await api.put(f"/v1/sites/{SITE}/channels", json={
            "webhook_url": "http://ehr.example.org/hook", "webhook_secret": SECRET})
        assert http_hook.status_code == 422
        channels = (await api.get(f"/v1/sites/{SITE}/channels")).json()
        assert channels["webhook_secret_set"] is True and "webhook_secret" not in channels

        address = f"api-{patient_id[:8]}@example.org"
        await n.deliver()  # no address yet: the first attempt fails
        contact = await api.put(f"/v1/patients/{patient_id}/contact", json={"email": address})
        assert contact.status_code == 200
        assert set(contact.json()) == documented(app, "/v1/patients/{patient_id}/contact")
        kin = await api.put(f"/v1/support-persons/{uuid.uuid4()}/contact",
                            json={"patient_id": patient_id, "email": "kin@example.org"})
        assert kin.status_code == 200
        assert set(kin.json()) == documented(app, "/v1/support-persons/{support_person_id}/contact")
        await n.deliver()  # the address is known: the waiting welcome goes now
        [email] = mail.to(address, "welcome")
        assert MailCatcher.subject(email) == "Hello from North Clinic"

        view = (await api.get(f"/v1/patients/{patient_id}")).json()
        assert view["site_id"] == SITE
        assert [m["kind"] for m in view["messages"]] == ["welcome"]
        [message] = view["messages"]
        assert {k: message[k] for k in ("channel", "recipient_role", "status", "attempts")} == {
            "channel": "email", "recipient_role": "patient", "status": "sent", "attempts": 2}
        log = (await api.get(f"/v1/messages/{message['id']}/deliveries")).json()
        assert [(d["attempt"], d["outcome"], d["reason"]) for d in log["deliveries"]] == [
            (1, "failed", "not_configured"), (2, "sent", None)]
        assert (await api.get(f"/v1/messages/{uuid.uuid4()}/deliveries")).status_code == 404


def documented(app: Any, path: str) -> set[str]:
    """The fields the OpenAPI document promises in the answer to a PUT on ``path``."""
    document = app.openapi()
    answer = document["paths"][path]["put"]["responses"]["200"]["content"]["application/json"]
    return set(document["components"]["schemas"][answer["schema"]["$ref"].rsplit("/", 1)[1]]
               ["properties"])


def _issued_envelope() -> EventEnvelope:
    return EventEnvelope(source="/iopnet/intake", type="iopnet.ApiKeyIssued", subject=SITE,
                         siteid=SITE, streamid="key", streamversion=1, correlationid="c",
                         causationid="c", data={}, time=datetime.now(UTC))


def _app(n: Notifications) -> Any:
    from iopnet.app import create_app

    app = create_app(SPEC, n.settings)
    app.state.pool = n.pool  # the ASGI transport does not run the lifespan
    return app


# Urgent alerts are coalesced per patient and recipient (domain/urgent_alerts.py).

def _risk(patient_id: str, signal: RiskSignal) -> RiskSignalRaised:
    return RiskSignalRaised(patient_id=patient_id, site_id=SITE, signal=signal,
                            observed_on=date(2026, 12, 8))


def _declined(patient_id: str) -> AdmissionDeclined:
    return AdmissionDeclined(patient_id=patient_id, site_id=SITE,
                             recommended_level=LevelOfCare.INPATIENT,
                             reason_codes=["cssrs_high"], urgent=True)


async def referred(n: Notifications) -> str:
    patient_id = str(uuid.uuid4())
    await n.apply(PatientReferred(patient_id=patient_id, site_id=SITE, referral_id="r-1",
                                  source=ReferralSource.SELF, referred_on=date(2026, 12, 8)))
    return patient_id


def alerts_about(mail: MailCatcher, patient_id: str) -> list[Any]:
    return [m for m in mail.to(CLINIC_EMAIL, "urgent_alert")
            if patient_id in MailCatcher.subject(m)]


def hooks_about(hooks: WebhookReceiver, patient_id: str, kind: str = "urgent_alert"
                ) -> list[dict[str, Any]]:
    return [p for p in hooks.payloads() if p["patient_id"] == patient_id and p["kind"] == kind]


async def unsent_causes(n: Notifications) -> int:
    """Causes placed in an alert that has not been sent: none may be left behind."""
    return int(await n.pool.fetchval(
        "SELECT count(*) FROM urgent_alert_causes c JOIN messages m ON m.id = c.message_id"
        " WHERE m.status <> 'sent'"))


async def test_a_high_risk_intake_is_one_alert_per_recipient_listing_every_cause(
    notifications: Notifications, mail: MailCatcher, hooks: WebhookReceiver,
) -> None:
    n = notifications
    await n.set_policies(quiet_now())  # urgent alerts ignore quiet hours
    patient_id = await referred(n)
    first = await n.apply(_risk(patient_id, RiskSignal.PHQ9_ITEM9))
    await n.apply(_risk(patient_id, RiskSignal.CSSRS_HIGH))
    await n.apply(_declined(patient_id))
    await n.apply(_risk(patient_id, RiskSignal.PHQ9_ITEM9), event_id=first.id)  # redelivered
    await n.deliver()

    [email] = alerts_about(mail, patient_id)
    assert MailCatcher.subject(email).startswith(
        f"URGENT: same-day review for patient {patient_id} (alert ")  # acknowledged by its id
    assert MailCatcher.text(email).splitlines()[1:] == [
        "- phq9 item9 (observed 2026-12-08)", "- cssrs high (observed 2026-12-08)",
        "- admission declined: inpatient recommended (cssrs high)"]
    [payload] = hooks_about(hooks, patient_id)
    assert (payload["type"], payload["recommended_level"], payload["follow_up"]) == (
        "iopnet.AdmissionDeclined", "inpatient", False)
    assert payload["alert_reasons"] == ["phq9_item9", "cssrs_high", "admission_declined"]
    assert [c["type"] for c in payload["causes"]] == [
        "iopnet.RiskSignalRaised", "iopnet.RiskSignalRaised", "iopnet.AdmissionDeclined"]
    assert payload["causes"][0]["event_id"] == first.id
    messages = await n.messages(patient_id)
    assert sorted((m["recipient_role"], m["status"], m["cause_type"]) for m in messages) == [
        ("clinician", "sent", "iopnet.AdmissionDeclined"),
        ("site", "sent", "iopnet.AdmissionDeclined")]
    assert await unsent_causes(n) == 0
    # One alert for the clinicians to acknowledge, with every reason folded into it.
    async with n.pool.acquire() as conn:
        [alert] = await store.alerts(conn, None, patient_id, True)
    assert alert["alert_reasons"] == ["phq9_item9", "cssrs_high", "admission_declined"]


async def test_signals_inside_the_window_follow_up_once_it_closes_and_after_it_alert_anew(
    notifications: Notifications, mail: MailCatcher, hooks: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    n = notifications
    patient_id = await referred(n)
    await n.apply(_risk(patient_id, RiskSignal.CSSRS_HIGH))
    await n.deliver()
    assert len(alerts_about(mail, patient_id)) == 1

    # Inside the window: held as one follow-up, due when the window closes.
    await n.apply(_risk(patient_id, RiskSignal.PHQ9_ITEM9))
    later = await n.apply(_declined(patient_id))
    await n.apply(_declined(patient_id), event_id=later.id)  # redelivered
    await n.deliver()
    assert len(alerts_about(mail, patient_id)) == 1
    assert len(hooks_about(hooks, patient_id)) == 1
    messages = await n.messages(patient_id)
    [first] = [m for m in messages if m["recipient_role"] == "clinician"
               and m["status"] == "sent"]
    [follow_up] = [m for m in messages if m["recipient_role"] == "clinician"
                   and m["status"] == "pending"]
    assert follow_up["due_at"] == first["sent_at"] + timedelta(seconds=300)
    assert follow_up["urgent"] and follow_up["facts"]["follow_up"] is True
    assert len(messages) == 4  # a first alert and a follow-up, to each recipient

    await n.make_due_now()  # the window closes
    await n.deliver()
    [_, email] = alerts_about(mail, patient_id)
    assert MailCatcher.subject(email).startswith(
        f"URGENT: additional risk signals for patient {patient_id} (alert ")
    assert MailCatcher.text(email).splitlines()[1:] == [
        "Additional risk signals since the last alert:",
        "- phq9 item9 (observed 2026-12-08)",
        "- admission declined: inpatient recommended (cssrs high)"]
    [_, payload] = hooks_about(hooks, patient_id)
    assert (payload["follow_up"], payload["alert_reasons"]) == (
        True, ["phq9_item9", "admission_declined"])
    assert await unsent_causes(n) == 0

    # Long after the last alert (the window has passed): a new signal, a new alert at once.
    later_on = utc_now() + timedelta(seconds=301)
    monkeypatch.setattr(commands, "utc_now", lambda: later_on)
    await n.apply(_risk(patient_id, RiskSignal.PHQ9_MARKED_RISE))
    monkeypatch.undo()  # back to the real clock: webhooks are signed with the time
    await n.make_due_now()  # due at once, by the clock of 301 seconds from now
    await n.deliver()
    emails = alerts_about(mail, patient_id)
    assert len(emails) == 3
    assert "same-day review" in MailCatcher.subject(emails[-1])
    assert "phq9 marked rise" in MailCatcher.text(emails[-1])
    assert hooks_about(hooks, patient_id)[-1]["alert_reasons"] == ["phq9_marked_rise"]
    assert len(await n.messages(patient_id)) == 6
    assert await unsent_causes(n) == 0


async def test_a_signal_arriving_while_its_alert_is_being_sent_follows_up(
    notifications: Notifications,
) -> None:
    n = notifications
    patient_id = await referred(n)
    await n.apply(_risk(patient_id, RiskSignal.CSSRS_HIGH))
    await n.pool.execute("UPDATE messages SET due_at = now() + interval '1 hour'"
                         " WHERE patient_id = $1 AND recipient_role = 'site'", patient_id)
    async with n.pool.acquire() as conn, conn.transaction():
        # Delivery leases the clinician's alert, commits, and sends it outside any transaction.
        claimed = await store.claim_due(conn, lease_seconds=60, site_limit=2)
        assert claimed is not None
    uow_conn = await n.pool.acquire()
    try:
        uow = commands.unit_of_work(uow_conn, CAUSE)
        message = await uow.load(Message, claimed.id)
        assert message is not None and message.recipient_role.value == "clinician"
        # A new cause while it is in flight: placed at once, not folded into what has left.
        await asyncio.wait_for(n.apply(_risk(patient_id, RiskSignal.PHQ9_ITEM9)), timeout=30)
        async with uow_conn.transaction():
            await commands.record_delivery(uow, claimed.id, None, commands.Retries(1, 6))
            await store.release(uow_conn, claimed.id)
    finally:
        await n.pool.release(uow_conn)
    clinician = [m for m in await n.messages(patient_id) if m["recipient_role"] == "clinician"]
    assert sorted((m["status"], m["facts"]["alert_reasons"][-1]) for m in clinician) == [
        ("pending", "phq9_item9"), ("sent", "cssrs_high")]


async def test_a_step_up_alerts_the_team_at_once_and_tells_the_patient_after_quiet_hours(
    notifications: Notifications, mail: MailCatcher, hooks: WebhookReceiver,
) -> None:
    n = notifications
    patient_id = await admitted(n)
    await n.set_policies(quiet_now())
    await n.apply(_risk(patient_id, RiskSignal.PHQ9_MARKED_RISE))
    await n.apply(SteppedUp(patient_id=patient_id, site_id=SITE,
                            to_level=LevelOfCare.PARTIAL_HOSPITALIZATION,
                            effective_on=date(2026, 12, 9),
                            reason_codes=["rise_above_baseline", "clinical_deterioration"]))
    await n.deliver()

    [alert] = alerts_about(mail, patient_id)
    assert MailCatcher.text(alert).splitlines()[1:] == [
        "- phq9 marked rise (observed 2026-12-08)",
        "- stepped up to partial hospitalization from 2026-12-09 (rise above baseline, "
        "clinical deterioration)"]
    [payload] = hooks_about(hooks, patient_id)
    assert (payload["type"], payload["to_level"], payload["reason_codes"]) == (
        "iopnet.SteppedUp", "partial_hospitalization",
        ["rise_above_baseline", "clinical_deterioration"])
    notice = only(await n.messages(patient_id), "step_up_notice")
    assert (notice["status"], notice["urgent"]) == ("pending", False)  # quiet hours
    assert mail.to(patient_email(patient_id)) == []

    await n.set_policies(NO_QUIET_HOURS)
    await n.make_due_now()
    await n.deliver()
    [email] = mail.to(patient_email(patient_id), "step_up_notice")
    assert "continues at the partial hospitalization level" in MailCatcher.text(email)
    statuses = {m["kind"]: m["status"] for m in await n.messages(patient_id)}
    assert statuses == {"welcome": "sent", "urgent_alert": "sent", "step_up_notice": "sent"}


async def test_a_week_below_the_minimum_asks_the_clinicians_to_review_after_quiet_hours(
    notifications: Notifications, mail: MailCatcher, hooks: WebhookReceiver,
) -> None:
    n = notifications
    patient_id = await admitted(n)
    await n.deliver()  # the welcome
    await n.set_policies(quiet_now())
    below = AttendanceBelowMinimum(patient_id=patient_id, site_id=SITE,
                                   week_starting=date(2026, 12, 7), hours=5.5, minimum_hours=9)
    first = await n.apply(below)
    await n.apply(below, event_id=first.id)  # redelivered
    await n.deliver()

    review = only(await n.messages(patient_id), "attendance_review", "clinician")
    assert (review["recipient_id"], review["channel"], review["urgent"], review["status"]) == (
        SITE, "email", False, "pending")  # not urgent: it waits for the end of quiet hours
    assert (review["cause_id"], review["cause_type"]) == (first.id, "iopnet.AttendanceBelowMinimum")
    assert review["facts"] == {"week_starting": "2026-12-07", "hours": "5.5", "minimum_hours": "9"}
    assert not [m for m in mail.to(CLINIC_EMAIL) if patient_id in MailCatcher.subject(m)]

    await n.set_policies(NO_QUIET_HOURS)
    await n.make_due_now()
    await n.deliver()
    [email] = [m for m in mail.to(CLINIC_EMAIL, "attendance_review")
               if patient_id in MailCatcher.subject(m)]
    assert MailCatcher.subject(email) == f"Attendance review: patient {patient_id}"
    assert ("the week starting 2026-12-07 had 5.5 hours of attendance against the program "
            "minimum of 9. The case is flagged for review.") in MailCatcher.text(email)
    assert hooks_about(hooks, patient_id, "attendance_review") == []
    assert mail.to(patient_email(patient_id), "attendance_review") == []
    assert {m["kind"]: m["status"] for m in await n.messages(patient_id)} == {
        "welcome": "sent", "attendance_review": "sent"}


@pytest.mark.parametrize(("outcome", "patient_told"), [
    (DischargeOutcome.COMPLETED, True), (DischargeOutcome.LEFT_AGAINST_ADVICE, False)])
async def test_a_discharge_tells_the_site_its_outcome_and_a_completer_congratulations(
    notifications: Notifications, mail: MailCatcher, hooks: WebhookReceiver,
    outcome: DischargeOutcome, patient_told: bool,
) -> None:
    n = notifications
    patient_id = await admitted(n)
    await n.apply(Discharged(patient_id=patient_id, site_id=SITE, outcome=outcome,
                             effective_on=date(2027, 2, 1)))
    await n.deliver()
    [payload] = hooks_about(hooks, patient_id, "discharge_notice")
    assert payload | {"message_id": "-", "occurred_at": "-"} == {
        "type": "iopnet.Discharged", "kind": "discharge_notice", "patient_id": patient_id,
        "site_id": SITE, "outcome": outcome.value, "effective_on": "2027-02-01",
        "message_id": "-", "occurred_at": "-"}
    emails = mail.to(patient_email(patient_id), "discharge_notice")
    assert len(emails) == int(patient_told)
    if patient_told:
        assert "completed your program at North Clinic on 2027-02-01" in (
            MailCatcher.text(emails[0]))
    async with n.pool.acquire() as conn:
        assert (await store.find_patient(conn, patient_id) or {})["status"] == "discharged"


# Every table of notifications is derived from its events: a rebuild gives the same rows,
# and a forgotten patient leaves nothing personal in them.

async def _a_busy_patient(n: Notifications, hooks: WebhookReceiver) -> str:
    """Welcomed, a support person's address, a folded alert acknowledged with a note, a
    retried webhook, a cancelled reminder, a pending family update: every kind of fact
    notifications records."""
    patient_id = await admitted(n)
    person = f"sp-{patient_id}"
    await n.apply(SupportPersonLinked(patient_id=patient_id, site_id=SITE,
                                      support_person_id=person,
                                      relationship=Relationship.PARENT))
    await n.apply(ConsentGranted(patient_id=patient_id, site_id=SITE, consent_id=f"c-{person}",
                                 support_person_id=person, scope=ConsentScope.SCHEDULE,
                                 covers=[ConsentScope.SCHEDULE]))
    async with n.pool.acquire() as conn, conn.transaction():
        uow = commands.unit_of_work(conn, CAUSE)
        await commands.set_support_person_contact(uow, person, patient_id,
                                                  f"{person}@example.org")
        await commands.set_template(uow, SITE, MessageKind.WELCOME, Template(
            "Hello from ${site_name}", "See you on ${start_date}."))
    await n.apply(_risk(patient_id, RiskSignal.CSSRS_HIGH))
    await n.apply(_risk(patient_id, RiskSignal.PHQ9_ITEM9))
    hooks.fail_next(1)
    await n.deliver()
    async with n.pool.acquire() as conn, conn.transaction():
        [alert] = await store.alerts(conn, None, patient_id, True)
        await commands.acknowledge_alert(commands.unit_of_work(conn, CAUSE),
                                         str(alert["alert_id"]), "clin-7",
                                         f"spoke with {patient_email(patient_id)}")
    later = utc_now() + timedelta(days=5)
    await n.apply(_session(patient_id, "s-1", later), correlation_id=new_id())
    await n.apply(SessionsCancelled(patient_id=patient_id, site_id=SITE, session_ids=["s-1"],
                                    reason="SteppedDown"))
    return patient_id


async def test_the_tables_rebuild_from_the_events_and_a_rebuild_sends_nothing(
    notifications: Notifications, mail: MailCatcher, hooks: WebhookReceiver,
) -> None:
    n = notifications
    patient_id = await _a_busy_patient(n, hooks)
    async with n.pool.acquire() as conn:
        before = await own_tables(conn)
    messages = {(m["kind"], m["recipient_role"]): m for m in await n.messages(patient_id)}
    assert messages[("welcome", "patient")]["status"] == "sent"
    assert messages[("session_reminder", "patient")]["status"] == "cancelled"
    assert messages[("family_schedule_update", "support_person")]["status"] == "pending"
    [alert] = before["alerts"]
    assert "('acknowledged_by', 'clin-7')" in alert and "('status', 'acknowledged')" in alert
    site_alert = await n.log(messages[("urgent_alert", "site")]["id"])
    assert site_alert[0] == (1, "failed", "WebhookRefused")
    emails = len(mail.to(patient_email(patient_id)))

    async with n.pool.acquire() as conn, conn.transaction():
        await rebuild_own_tables(conn)
    async with n.pool.acquire() as conn:
        assert await own_tables(conn) == before
    await n.pool.execute("UPDATE messages SET due_at = now() WHERE status = 'pending'"
                         " AND recipient_role <> 'site'")
    await n.deliver()
    assert len(mail.to(patient_email(patient_id))) == emails  # sent once, never again


async def test_a_forgotten_patient_leaves_nothing_personal_and_nothing_is_sent(
    notifications: Notifications, mail: MailCatcher, hooks: WebhookReceiver,
) -> None:
    n = notifications
    patient_id = await _a_busy_patient(n, hooks)
    other = await admitted(n)
    await n.apply(PatientForgotten(patient_id=patient_id, site_id=SITE))
    await n.make_due_now()
    hooks_before, mails_before = len(hooks_about(hooks, patient_id)), len(mail.to(
        f"sp-{patient_id}@example.org"))
    await n.deliver()

    async def traces(tables: Sequence[str]) -> str:
        return "\n".join([plain_text_of(await n.pool.fetch(f"SELECT * FROM {table}"))
                          for table in tables])

    derived = (*OWN_TABLES, *store.PATIENT_TABLES)
    every_table = [row["tablename"] for row in await n.pool.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    assert patient_id not in await traces(derived)
    assert patient_email(other) in await traces(derived)  # the other patient is there
    anywhere = await traces(every_table)
    assert patient_email(patient_id) not in anywhere and f"sp-{patient_id}@" not in anywhere
    assert len(hooks_about(hooks, patient_id)) == hooks_before  # the pending alert is gone
    assert len(mail.to(f"sp-{patient_id}@example.org")) == mails_before

    # A rebuild keeps the patient forgotten; the other patient is rebuilt as they were.
    async with n.pool.acquire() as conn, conn.transaction():
        await rebuild_own_tables(conn)
    assert patient_id not in await traces(derived)
    assert [m["kind"] for m in await n.messages(other)] == ["welcome"]
    with pytest.raises(commands.UnknownPatient):
        await set_patient_email(n, patient_id, "again@example.org")


async def test_family_participation_covers_what_family_published_it_covers(
    notifications: Notifications, mail: MailCatcher,
) -> None:
    """Participation is the top of family's ladder: progress and the schedule with it. What
    notifications allows is the ``covers`` on the event, never its own reading of the scope."""
    n = notifications
    patient_id = await admitted(n)
    person = f"sp-{patient_id}"
    await n.apply(SupportPersonLinked(patient_id=patient_id, site_id=SITE,
                                      support_person_id=person,
                                      relationship=Relationship.PARENT))
    async with n.pool.acquire() as conn, conn.transaction():
        await commands.set_support_person_contact(commands.unit_of_work(conn, CAUSE), person,
                                                  patient_id, f"{person}@example.org")
    await n.apply(ConsentGranted(patient_id=patient_id, site_id=SITE, consent_id=f"c-{person}",
                                 support_person_id=person,
                                 scope=ConsentScope.FAMILY_PARTICIPATION,
                                 covers=sorted(SCOPE_COVERS[ConsentScope.FAMILY_PARTICIPATION])))
    await n.apply(_judged(patient_id, "m-1"))
    await n.deliver()
    [update] = mail.to(f"{person}@example.org", "family_progress_update")
    assert "much improved" in MailCatcher.text(update)

    # A grant whose published covers leave progress out allows no progress update.
    other = await admitted(n)
    narrow = f"sp-{other}"
    await n.apply(SupportPersonLinked(patient_id=other, site_id=SITE, support_person_id=narrow,
                                      relationship=Relationship.PARENT))
    await n.apply(ConsentGranted(patient_id=other, site_id=SITE, consent_id=f"c-{narrow}",
                                 support_person_id=narrow,
                                 scope=ConsentScope.FAMILY_PARTICIPATION,
                                 covers=[ConsentScope.FAMILY_PARTICIPATION]))
    await n.apply(_judged(other, "m-2"))
    assert [m for m in await n.messages(other) if m["recipient_role"] == "support_person"] == []


async def test_a_refused_schedule_and_a_cssrs_due_each_tell_the_clinicians_once(
    notifications: Notifications, mail: MailCatcher,
) -> None:
    n = notifications
    patient_id = await admitted(n)
    refused = ScheduleRefused(patient_id=patient_id, site_id=SITE, program_id="iop-adult",
                              level=LevelOfCare.IOP, days_per_week=3,
                              planned_weekly_hours=4.0, minimum_hours=9.0, below_hours=20.0)
    due = CssrsDue(patient_id=patient_id, site_id=SITE, due_on=date(2026, 12, 14),
                   phq9_measure_id="m-9")
    for event in (refused, due):
        envelope = await n.apply(event)
        await n.apply(event, event_id=envelope.id)  # redelivered: nothing more
    await n.deliver()
    clinicians = [m for m in await n.messages(patient_id) if m["recipient_role"] == "clinician"]
    assert sorted((m["kind"], m["status"], m["urgent"]) for m in clinicians) == [
        ("cssrs_due", "sent", False), ("schedule_refused", "sent", False)]
    [notice] = [m for m in mail.to(CLINIC_EMAIL, "schedule_refused")
                if patient_id in str(m["Subject"])]
    assert "come to 4 hours" in MailCatcher.text(notice)
    assert len([m for m in mail.to(CLINIC_EMAIL, "cssrs_due")
                if patient_id in str(m["Subject"])]) == 1


def _certified(patient_id: str, certification_id: str, on: date) -> PatientCertified:
    return PatientCertified(patient_id=patient_id, site_id=SITE,
                            certification_id=certification_id, certified_by="dr-rao",
                            certified_on=on, diagnosis_codes=["F33.1"],
                            recertify_by=on + timedelta(days=62))


async def test_recertification_reminders_follow_the_newest_certification_and_end_with_it(
    notifications: Notifications,
) -> None:
    n = notifications
    patient_id = await admitted(n)
    first = _certified(patient_id, "cert-1", date(2026, 12, 7))  # recertify by 2027-02-07
    await n.apply(first)

    def reminders(messages: list[dict[str, Any]], status: str) -> list[tuple[str, datetime]]:
        return sorted((m["kind"], m["due_at"]) for m in messages
                      if m["kind"].startswith("recertification") and m["status"] == status)

    zone = ZoneInfo(SITE_TIME_ZONE)
    assert reminders(await n.messages(patient_id), "pending") == [
        ("recertification_due", datetime(2027, 1, 31, 9, 0, tzinfo=zone)),
        ("recertification_overdue", datetime(2027, 2, 8, 9, 0, tzinfo=zone))]

    await n.apply(_certified(patient_id, "cert-2", date(2027, 2, 1)))
    messages = await n.messages(patient_id)
    assert len(reminders(messages, "cancelled")) == 2
    assert reminders(messages, "pending") == [
        ("recertification_due", datetime(2027, 3, 28, 9, 0, tzinfo=zone)),
        ("recertification_overdue", datetime(2027, 4, 5, 9, 0, tzinfo=zone))]

    await n.apply(Discharged(patient_id=patient_id, site_id=SITE,
                             outcome=DischargeOutcome.COMPLETED, effective_on=date(2027, 3, 1)))
    messages = await n.messages(patient_id)
    assert reminders(messages, "pending") == []
    assert len(reminders(messages, "cancelled")) == 4


async def test_an_overdue_alert_escalates_once_from_what_the_database_holds(
    notifications: Notifications, mail: MailCatcher, hooks: WebhookReceiver,
) -> None:
    """The window's end is in the alerts table: a job started afresh finds it."""
    n = notifications
    async with n.pool.acquire() as conn, conn.transaction():
        await commands.set_channels(commands.unit_of_work(conn, CAUSE), SiteChannels(
            SITE, CLINIC_EMAIL, hooks.url, SECRET, escalation_email="on-call@north.example.org",
            acknowledge_within=timedelta(minutes=10)))
    patient_id = await admitted(n)
    acknowledged_in_time = await admitted(n)
    for patient in (patient_id, acknowledged_in_time):
        await n.apply(RiskSignalRaised(patient_id=patient, site_id=SITE,
                                       signal=RiskSignal.CSSRS_HIGH,
                                       observed_on=date(2026, 12, 8)))
    async with n.pool.acquire() as conn:
        [alert] = await store.alerts(conn, None, patient_id, True)
        [other] = await store.alerts(conn, None, acknowledged_in_time, True)
    assert alert["escalate_at"] - alert["raised_at"] == timedelta(minutes=10)
    async with n.pool.acquire() as conn, conn.transaction():
        await commands.acknowledge_alert(commands.unit_of_work(conn, CAUSE),
                                         str(other["alert_id"]), "clin-7", None)
    assert await escalate_overdue_alerts(n.pool, utc_now()) == 0  # not due yet
    # The window ends (as if ten minutes went by, or the worker restarted meanwhile).
    later = utc_now() + timedelta(minutes=11)
    assert await escalate_overdue_alerts(n.pool, later) == 1
    assert await escalate_overdue_alerts(n.pool, later) == 0  # once
    await n.make_due_now()  # the escalation is due at the round's time
    await n.deliver()
    [email] = mail.to("on-call@north.example.org", "alert_escalation")
    assert str(alert["alert_id"]) in MailCatcher.subject(email)
    [payload] = [p for p in hooks.payloads() if p["kind"] == "alert_escalation"
                 and p["patient_id"] == patient_id]
    assert (payload["type"], payload["alert_id"]) == ("iopnet.AlertEscalated",
                                                      str(alert["alert_id"]))
    published = await n.pool.fetch(
        "SELECT envelope FROM events WHERE event_type LIKE 'iopnet.Alert%'"
        " ORDER BY global_position")
    assert [e["envelope"]["type"] for e in published] == [
        "iopnet.AlertRaised", "iopnet.AlertRaised", "iopnet.AlertAcknowledged",
        "iopnet.AlertEscalated"]
    async with n.pool.acquire() as conn:
        assert [a["status"] for a in await store.alerts(conn, None, None, False)] == [
            "escalated", "acknowledged"]


async def test_leaving_against_advice_raises_an_urgent_alert(
    notifications: Notifications, hooks: WebhookReceiver,
) -> None:
    n = notifications
    patient_id = await admitted(n)
    await n.apply(ExitSummarized(
        patient_id=patient_id, site_id=SITE, exit="discharged", effective_on=date(2027, 1, 5),
        baseline_phq9=18, first_phq9=18, last_phq9=16, response=False, remission=False,
        sessions_attended=5, sessions_scheduled=16, risk_signals=[], safety_plan="recorded",
        follow_up_within_days=7, urgent_alert=True))
    await n.deliver()
    urgent = [m for m in await n.messages(patient_id) if m["kind"] == "urgent_alert"]
    assert {(m["recipient_role"], m["status"]) for m in urgent} == {
        ("clinician", "sent"), ("site", "sent")}
    [payload] = [p for p in hooks.payloads() if p["patient_id"] == patient_id]
    assert (payload["type"], payload["alert_reasons"]) == ("iopnet.ExitSummarized",
                                                           ["left_against_advice"])
    async with n.pool.acquire() as conn:
        [alert] = await store.alerts(conn, None, patient_id, True)
    assert alert["alert_reasons"] == ["left_against_advice"]
