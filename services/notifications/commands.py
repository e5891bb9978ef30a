"""Notifications' use cases: one function each, called by routes, reactions and the job.

Each runs in one unit of work: it loads what it changes from its own stream,
records the new facts as events, and the derived tables follow in the same
transaction (``recorded.project_recorded``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from opentelemetry.trace import Span

from iopnet import data_keys
from iopnet.auth.registry import site_date
from iopnet.catalog import (
    AlertEscalated,
    Channel,
    ConsentScope,
    PatientCertified,
    ProgressJudged,
    RecipientRole,
    SessionsScheduled,
    SteppedDown,
)
from iopnet.db import Connection
from iopnet.envelope import utc_now
from iopnet.eventstore import Cause, EventStore
from iopnet.metrics import NOTIFICATION_DELIVERIES
from iopnet.telemetry import context_from, current_trace_context, tracer
from iopnet.unit_of_work import UnitOfWork
from services.notifications import domain, store
from services.notifications.domain import (
    NEEDED_SCOPE,
    DeliveryStatus,
    LatestAlert,
    MessageDraft,
    MessageKind,
    Occasion,
    Placing,
    RenderedEmail,
    SiteChannels,
    Template,
    UrgentCause,
)
from services.notifications.domain.alerts import Alert, escalation_drafts
from services.notifications.domain.circuits import Circuits, endpoint_of
from services.notifications.domain.directory import Contacts, SiteSettings
from services.notifications.domain.message import Message, message_id_of
from services.notifications.domain.recertification import KINDS as RECERTIFICATION_KINDS
from services.notifications.projections import project_all_recorded, project_recorded
from services.notifications.settings import current as current_settings

log = logging.getLogger(__name__)
EVENTS = EventStore.of("notifications")


def unit_of_work(conn: Connection, cause: Cause) -> UnitOfWork:
    return UnitOfWork(conn, EVENTS, cause, project=project_recorded,
                      project_all=project_all_recorded)


class UnknownPatient(LookupError):
    """Notifications has not heard of this patient (or has forgotten them)."""


# Contacts, channels and templates.

async def set_patient_contact(uow: UnitOfWork, patient_id: str, email: str) -> None:
    """The patient's email; messages waiting for it go now."""
    site_id = await _site_of(uow.conn, patient_id)
    contacts = await uow.load(Contacts, patient_id) or Contacts(patient_id)
    contacts.set_patient_email(site_id, email)
    await uow.save(contacts)
    await _retry_waiting(uow, patient_id, RecipientRole.PATIENT)


async def set_support_person_contact(uow: UnitOfWork, support_person_id: str,
                                     patient_id: str, email: str) -> None:
    """A support person's email, for the patient they support (family owns the link)."""
    site_id = await _site_of(uow.conn, patient_id)
    contacts = await uow.load(Contacts, patient_id) or Contacts(patient_id)
    contacts.set_support_person_email(site_id, support_person_id, email)
    await uow.save(contacts)
    await _retry_waiting(uow, patient_id, RecipientRole.SUPPORT_PERSON, support_person_id)


async def set_channels(uow: UnitOfWork, channels: SiteChannels,
                       secret_overlap: timedelta | None = None) -> SiteChannels:
    """Where the site's alerts and webhooks go; messages waiting for a channel go now.
    A replaced webhook secret still signs for ``secret_overlap`` (default: the setting)."""
    if secret_overlap is None:
        secret_overlap = timedelta(hours=current_settings().webhook_secret_overlap_hours)
    settings = await uow.load(SiteSettings, channels.site_id) or SiteSettings(channels.site_id)
    channels = settings.set_channels(channels, utc_now(), secret_overlap)
    await uow.save(settings)
    await _retry_waiting(uow, None, None, channels.site_id)
    return channels


async def set_template(uow: UnitOfWork, site_id: str, kind: MessageKind, template: Template
                       ) -> None:
    settings = await uow.load(SiteSettings, site_id) or SiteSettings(site_id)
    settings.set_template(kind, template)
    await uow.save(settings)


async def _site_of(conn: Connection, patient_id: str) -> str:
    patient = await store.find_patient(conn, patient_id)
    if patient is None:
        raise UnknownPatient(patient_id)
    return str(patient["site_id"])


async def _retry_waiting(uow: UnitOfWork, patient_id: str | None, role: RecipientRole | None,
                         recipient_id: str | None = None) -> None:
    now = utc_now()
    for message_id in await store.waiting_messages(uow.conn, now, patient_id, role,
                                                   recipient_id):
        message = await _message(uow, message_id)
        message.reschedule(now)
        await uow.save(message)


# Messages an event calls for.

async def queue_messages(uow: UnitOfWork, drafts: Iterable[MessageDraft]) -> int:
    """Queue messages; one already queued for the same cause, kind and recipient stays.
    Nothing is queued for a forgotten patient."""
    drafts = list(drafts)
    forgotten = {patient_id for patient_id in {draft.patient_id for draft in drafts}
                 if await data_keys.is_forgotten(uow.conn, patient_id)}
    wanted: dict[str, MessageDraft] = {}
    for draft in drafts:
        if draft.patient_id not in forgotten:
            wanted.setdefault(message_id_of(draft), draft)
    already = await uow.load_many(Message, list(wanted))
    queued_at, trace_context = utc_now(), current_trace_context() or None
    messages = [Message.queue(draft, queued_at=queued_at, trace_context=trace_context)
                for message_id, draft in wanted.items() if message_id not in already]
    await uow.save_all(messages)
    return len(messages)


async def _queue(uow: UnitOfWork, draft: MessageDraft) -> Message | None:
    if await data_keys.is_forgotten(uow.conn, draft.patient_id):
        return None
    if await uow.load(Message, message_id_of(draft)) is not None:
        return None
    message = Message.queue(draft, queued_at=utc_now(),
                            trace_context=current_trace_context() or None)
    await uow.save(message)
    return message


async def remind_of_sessions(uow: UnitOfWork, scheduled: SessionsScheduled,
                             occasion: Occasion, batch: Occasion, lead: timedelta,
                             settle: timedelta) -> None:
    """A schedule's places (some rescheduled, perhaps): their earlier reminders go, a new
    one is due ``lead`` before each, and those the patient allows hear of the batch once
    it settles. Waitlisted sessions are left alone."""
    held = [s.session_id for s in scheduled.sessions if not s.waitlisted]
    if not held:
        return
    reminders = domain.session_reminders(scheduled, occasion, occasion.occurred_at, lead)
    keep = {message_id_of(reminder) for reminder in reminders}
    await _cancel_all(uow, [
        message_id for message_id in await store.pending_for_sessions(
            uow.conn, scheduled.patient_id, held, MessageKind.SESSION_REMINDER)
        if message_id not in keep])
    await queue_messages(uow, reminders)
    sharing = await _sharing(uow.conn, scheduled.patient_id, scheduled.site_id,
                             ConsentScope.SCHEDULE, occasion.occurred_at)
    await queue_messages(uow, domain.family_schedule_update(scheduled, batch, sharing, settle))


async def cancel_session_messages(uow: UnitOfWork, patient_id: str, session_ids: list[str]
                                  ) -> None:
    """Cancelled sessions: what was pending about them no longer applies."""
    await _cancel_all(uow, await store.pending_for_sessions(uow.conn, patient_id, session_ids))


async def cancel_at_old_sites(uow: UnitOfWork, patient_id: str, site_id: str) -> None:
    """The patient moved to ``site_id``: the old site's routine messages (reminders of its
    sessions, welcomes, summaries) no longer apply. An urgent alert already raised there
    still goes: its clinician was responsible when the cause arose."""
    for message_id in await store.pending_elsewhere(uow.conn, patient_id, site_id):
        await _cancel(uow, message_id)


async def _cancel(uow: UnitOfWork, message_id: str) -> None:
    message = await _message(uow, message_id)
    message.cancel()
    await uow.save(message)


async def _cancel_all(uow: UnitOfWork, message_ids: Sequence[str]) -> None:
    """``_cancel`` for several messages, their streams read and appended to at once."""
    messages = await uow.load_many(Message, message_ids)
    if missing := [m for m in message_ids if m not in messages]:
        raise LookupError(f"messages {missing} have no stream")
    for message in messages.values():
        message.cancel()
    await uow.save_all(list(messages.values()))


async def remind_of_recertification(uow: UnitOfWork, certified: PatientCertified,
                                    occasion: Occasion) -> None:
    """A (newer) certification: the reminders of an earlier one go, its own are queued."""
    await cancel_recertification_reminders(uow, certified.patient_id, keep=occasion.cause_id)
    zone = (await store.site(uow.conn, certified.site_id)).time_zone
    await queue_messages(uow, domain.recertification_reminders(certified, occasion, zone))


async def cancel_recertification_reminders(uow: UnitOfWork, patient_id: str,
                                           keep: str | None = None) -> None:
    """The IOP episode ended (or was recertified): pending reminders no longer apply."""
    for message_id, cause_id in await store.pending_of_kinds(uow.conn, patient_id,
                                                             RECERTIFICATION_KINDS):
        if cause_id != keep:
            await _cancel(uow, message_id)


async def update_family_on_progress(uow: UnitOfWork, event: ProgressJudged | SteppedDown,
                                    occasion: Occasion) -> None:
    """A progress summary (a trend, never a score) to those the patient allows."""
    sharing = await _sharing(uow.conn, event.patient_id, event.site_id,
                             ConsentScope.PROGRESS_SUMMARIES, occasion.occurred_at)
    await queue_messages(uow, domain.family_progress_update(event, occasion, sharing))


async def _sharing(conn: Connection, patient_id: str, site_id: str, needed: ConsentScope,
                   at: datetime) -> list[str]:
    today = await site_date(conn, site_id, at)
    return domain.sharing_with(await store.consents_of(conn, patient_id), needed, today)


@dataclass(frozen=True)
class Coalescing:
    """How urgent causes are gathered into alerts (domain/urgent_alerts.py)."""

    window: timedelta
    gather: timedelta


async def raise_urgent_alert(uow: UnitOfWork, patient_id: str, site_id: str,
                             cause: UrgentCause | None, occasion: Occasion,
                             coalescing: Coalescing) -> None:
    """Place an urgent cause, for each recipient, in the alert it belongs to (coalescing)."""
    if cause is None or await data_keys.is_forgotten(uow.conn, patient_id):
        return
    for recipient in domain.urgent_recipients(site_id):
        await store.lock_urgent_alerts(uow.conn, patient_id, recipient)
        latest_id = await store.latest_urgent_alert(uow.conn, patient_id, recipient)
        latest = await _message(uow, latest_id) if latest_id else None
        now = utc_now()
        placement = domain.place(
            cause, await _latest_alert(uow.conn, latest, now),
            already_alerted=await store.urgent_cause_placed(uow.conn, cause.event_id,
                                                            recipient),
            now=now, window=coalescing.window, gather=coalescing.gather)
        if placement.placing is Placing.FOLD:
            assert latest is not None
            latest.fold(cause)
            await uow.save(latest)
        elif placement.placing is not Placing.ALREADY_ALERTED:
            draft = domain.urgent_draft(patient_id, site_id, recipient, cause, occasion,
                                        placement)
            if (await _queue(uow, draft)) is not None and recipient.role is RecipientRole.CLINICIAN:
                await _raise_alert(uow, draft)


async def _raise_alert(uow: UnitOfWork, draft: MessageDraft) -> None:
    """The clinicians' alert is to be acknowledged within the site's window (the loop)."""
    channels = await store.site_channels(uow.conn, draft.site_id)
    await uow.save(Alert.raise_(
        message_id_of(draft), draft.patient_id, draft.site_id,
        [str(r) for r in draft.facts.get("alert_reasons", [])], draft.due_at,
        channels.acknowledgement_window))


class UnknownAlert(LookupError):
    """No such alert (or not one of the caller's site)."""


async def acknowledge_alert(uow: UnitOfWork, alert_id: str, clinician_id: str,
                            note: str | None) -> Alert:
    """A clinician has the alert in hand; a second acknowledgement changes nothing, one
    after the escalation is recorded all the same."""
    alert = await uow.load(Alert, alert_id)
    if alert is None:
        raise UnknownAlert(alert_id)
    if alert.acknowledge(clinician_id, note, utc_now()):
        await uow.save(alert)
    return alert


async def escalate_alert(uow: UnitOfWork, alert_id: str, now: datetime) -> bool:
    """An alert past its window and still unacknowledged goes to the site's second contact
    and its systems; False when it no longer needs to (acknowledged, or escalated)."""
    alert = await uow.load(Alert, alert_id)
    if alert is None or not alert.escalate(now):
        return False
    await uow.save(alert)
    occasion = Occasion(alert.id, AlertEscalated.event_type, uow.cause.correlation_id, now)
    await queue_messages(uow, escalation_drafts(alert, occasion))
    return True


async def _latest_alert(conn: Connection, latest: Message | None, now: datetime
                        ) -> LatestAlert | None:
    """The latest alert as placing sees it: one being sent now (leased) is as good as sent,
    since what it says has left; a new cause follows it up."""
    if latest is None:
        return None
    alert = latest.latest_alert()
    if alert.status is DeliveryStatus.PENDING and await store.is_leased(conn, latest.id):
        return replace(alert, status=DeliveryStatus.SENT, sent_at=now)
    return alert


async def _message(uow: UnitOfWork, message_id: str) -> Message:
    message = await uow.load(Message, message_id)
    if message is None:
        raise LookupError(f"message {message_id} has no stream")
    return message


# Delivery: prepared in one short transaction, sent outside any, recorded in another.

class Sender(Protocol):
    """The ways a message leaves (delivery.Postman)."""

    async def send_email(self, to: str, email: RenderedEmail, message: Message) -> None: ...

    async def post_webhook(self, url: str, secrets: Sequence[str], body: bytes, now: datetime
                           ) -> None: ...


class Undeliverable(Exception):
    """This attempt cannot succeed yet (no address, no channel); it is retried like others."""


class NoContactAddress(Undeliverable):
    pass


class NoWebhookConfigured(Undeliverable):
    pass


@dataclass(frozen=True)
class Retries:
    backoff_seconds: float
    max_attempts: int


@dataclass(frozen=True)
class Outgoing:
    """A message ready to leave: what to send where, read while it was leased."""

    message: Message
    email_to: str | None = None
    email: RenderedEmail | None = None
    webhook_url: str | None = None
    webhook_secrets: tuple[str, ...] = ()
    webhook_body: bytes = b""

    @property
    def endpoint(self) -> str | None:
        """The webhook endpoint whose circuit this send counts for (email: none)."""
        return endpoint_of(self.webhook_url) if self.webhook_url else None

    async def send(self, sender: Sender) -> None:
        if self.webhook_url is not None:
            await sender.post_webhook(self.webhook_url, self.webhook_secrets,
                                      self.webhook_body, utc_now())
        else:
            assert self.email_to is not None and self.email is not None
            await sender.send_email(self.email_to, self.email, self.message)


async def prepare_delivery(uow: UnitOfWork, message_id: str, retries: Retries,
                           circuits: Circuits) -> Outgoing | None:
    """A due, leased message: deferred past quiet hours or an open circuit, withheld
    without consent, failed for want of an address (each recorded), or ready to send."""
    message = await _message(uow, message_id)
    if not message.is_pending:
        return None
    now = utc_now()
    site = await store.site(uow.conn, message.site_id)
    outgoing: Outgoing | None = None
    if (until := _deferred_until(message, site, now)) is not None:
        message.reschedule(until)
    elif not await _consent_allows(uow.conn, message, site.time_zone, now):
        message.withhold(now)
    else:
        try:
            with _delivery_span(message):
                outgoing = await _outgoing(uow.conn, message, site, now)
        except Undeliverable as missing:
            _failed(message, missing, retries)
        else:
            if outgoing.endpoint and (until := circuits.open_until(outgoing.endpoint, now)):
                message.reschedule(until)
                outgoing = None
    await uow.save(message)
    return outgoing


def _deferred_until(message: Message, site: store.Site, now: datetime) -> datetime | None:
    if not domain.observes_quiet_hours(message.urgent, message.channel):
        return None
    return domain.quiet_until(now, site.time_zone, site.policies.quiet_hours_start,
                              site.policies.quiet_hours_end)


async def send(outgoing: Outgoing, sender: Sender, circuits: Circuits) -> Exception | None:
    """Send, outside any transaction; the failure, or None when it went."""
    message = outgoing.message
    with _delivery_span(message):
        try:
            await outgoing.send(sender)
        except Exception as failure:  # every failure is logged by class and retried
            log.warning("message %s attempt %s failed: %s", message.id, message.attempts + 1,
                        type(failure).__name__)
            if outgoing.endpoint:
                circuits.failed(outgoing.endpoint, utc_now())
            return failure
    if outgoing.endpoint:
        circuits.succeeded(outgoing.endpoint)
    return None


def _delivery_span(message: Message) -> AbstractContextManager[Span]:
    """Delivering joins the trace of the event that called for the message."""
    return tracer.start_as_current_span(
        f"deliver {message.kind.value}", context=context_from(message.trace_context),
        attributes={"iopnet.channel": message.channel.value})


async def record_delivery(uow: UnitOfWork, message_id: str, failure: Exception | None,
                          retries: Retries) -> None:
    """How the send went, in the message's stream (a success publishes NotificationSent)."""
    message = await _message(uow, message_id)
    if message.status is DeliveryStatus.SENT:
        return  # another worker sent it after this one's lease lapsed
    if failure is None:
        NOTIFICATION_DELIVERIES.labels(message.channel.value, "sent").inc()
        message.sent(utc_now())
    elif message.is_pending:  # a message cancelled meanwhile is not retried
        _failed(message, failure, retries)
    await uow.save(message)


def _failed(message: Message, failure: Exception, retries: Retries) -> None:
    NOTIFICATION_DELIVERIES.labels(message.channel.value, "failed").inc()
    retry_at = domain.next_attempt_at(message.attempts + 1, utc_now(),
                                      retries.backoff_seconds, retries.max_attempts)
    message.fail(type(failure).__name__, utc_now(), retry_at)


async def _consent_allows(conn: Connection, message: Message, zone: str, now: datetime
                          ) -> bool:
    """Family messages are checked again when due: a revocation since queuing wins."""
    if message.recipient_role is not RecipientRole.SUPPORT_PERSON:
        return True
    needed = NEEDED_SCOPE.get(message.kind)
    if needed is None:
        return False  # nothing reaches a support person without a consent that covers it
    today = now.astimezone(ZoneInfo(zone)).date()
    return domain.may_share(await store.consents_of(conn, message.patient_id),
                            message.recipient_id, needed, today)


async def _outgoing(conn: Connection, message: Message, site: store.Site, now: datetime
                    ) -> Outgoing:
    facts = message.facts or {}
    if message.channel is Channel.WEBHOOK:
        channels = await store.site_channels(conn, message.site_id)
        if not channels.webhook_url or not channels.webhook_secret:
            raise NoWebhookConfigured()
        assert message.occurred_at is not None
        payload = domain.webhook_payload(
            message_id=message.id, kind=message.kind.value, cause_type=message.cause_type,
            patient_id=message.patient_id, site_id=message.site_id,
            occurred_at=message.occurred_at, facts=facts)
        return Outgoing(message, webhook_url=channels.webhook_url,
                        webhook_secrets=channels.signing_secrets(now),
                        webhook_body=domain.webhook_body(payload))
    address = await store.email_address(conn, message.patient_id, message.recipient_role,
                                        message.recipient_id, message.site_id, message.kind)
    if not address:
        raise NoContactAddress()
    return Outgoing(message, email_to=address, email=await _render(conn, message, site, now))


async def _render(conn: Connection, message: Message, site: store.Site, now: datetime
                  ) -> RenderedEmail:
    extra: dict[str, str] = {}
    if message.kind is MessageKind.FAMILY_SCHEDULE_UPDATE:
        starts = await store.session_starts(conn, message.patient_id)
        extra = domain.schedule_outline(starts, site.time_zone, now)
    elif message.kind is MessageKind.URGENT_ALERT:
        extra = {"alert_id": message.id}  # the clinicians' alert is acknowledged by its id
    context = domain.render_context(
        message.kind, message.facts or {}, patient_id=message.patient_id,
        site_name=site.name, zone=site.time_zone, extra=extra)
    return domain.render(await store.template_for(conn, message.site_id, message.kind), context)
