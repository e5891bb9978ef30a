"""Delivery: the worker's loop that sends due messages by email (SMTP) and signed webhook.

Each message is claimed with ``FOR UPDATE SKIP LOCKED`` in its own transaction
and stays locked while it is sent, so two workers never send it both; the
attempt, its outcome and (on success) ``NotificationSent`` commit together.
A crash between sending and committing sends it again: at least once, never
silently lost. The loop wakes on NOTIFY when a message becomes due, and
polls as a safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from iopnet.auth.registry import site_policies, site_time_zone
from iopnet.catalog import Channel, NotificationSent, RecipientRole
from iopnet.db import Connection
from iopnet.envelope import utc_now
from iopnet.eventstore import Cause, EventStore
from iopnet.metrics import NOTIFICATION_DELIVERIES
from iopnet.settings import ServiceSettings
from iopnet.telemetry import context_from, tracer
from services.notifications import domain, store
from services.notifications.domain import NEEDED_SCOPE, DeliveryStatus, RenderedEmail
from services.notifications.domain.signature import signed_headers
from services.notifications.settings import NotificationsSettings
from services.notifications.store import DueMessage

log = logging.getLogger(__name__)
EVENTS = EventStore.of("notifications")


class Undeliverable(Exception):
    """This attempt cannot succeed yet (no address, no channel); it is retried like others."""


class NoContactAddress(Undeliverable):
    pass


class NoWebhookConfigured(Undeliverable):
    pass


class WebhookRefused(Exception):
    """The endpoint answered, but not with 2xx."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


@dataclass
class Postman:
    """The two ways a message leaves: an SMTP server and HTTPS webhooks."""

    settings: NotificationsSettings
    http: httpx.AsyncClient

    async def send_email(self, to: str, email: RenderedEmail, message: DueMessage) -> None:
        mail = EmailMessage()
        mail["From"] = self.settings.smtp_from
        mail["To"] = to
        mail["Subject"] = email.subject
        mail["Message-ID"] = make_msgid(domain="iopnet.local")
        mail["X-Iopnet-Message-Id"] = str(message.id)
        mail["X-Iopnet-Kind"] = message.kind.value
        mail.set_content(email.body)
        await asyncio.to_thread(self._smtp_send, mail)

    def _smtp_send(self, mail: EmailMessage) -> None:
        with smtplib.SMTP(self.settings.smtp_host, self.settings.smtp_port,
                          timeout=self.settings.smtp_timeout_seconds) as smtp:
            smtp.send_message(mail)

    async def post_webhook(self, url: str, secret: str, body: bytes, now: datetime) -> None:
        headers = {"Content-Type": "application/json", **signed_headers(secret, body, now)}
        answer = await self.http.post(url, content=body, headers=headers)
        if not answer.is_success:
            raise WebhookRefused(answer.status_code)


async def deliver_due_messages(pool: asyncpg.Pool, settings: ServiceSettings,
                               stop: asyncio.Event) -> None:
    """The background job (``SPEC.background``): deliver until told to stop."""
    assert isinstance(settings, NotificationsSettings)
    wake = asyncio.Event()

    def on_due(*_: object) -> None:
        wake.set()

    listener = await pool.acquire()
    await listener.add_listener(store.DUE_CHANNEL, on_due)
    try:
        async with httpx.AsyncClient(timeout=settings.webhook_timeout_seconds) as http:
            postman = Postman(settings, http)
            while not stop.is_set():
                wake.clear()
                try:
                    await deliver_all_due(pool, postman, settings)
                except Exception:  # keep the worker alive; the next round tries again
                    log.exception("delivery round failed")
                await _sleep(wake, stop, settings.delivery_poll_seconds)
    finally:
        with contextlib.suppress(Exception):
            await listener.remove_listener(store.DUE_CHANNEL, on_due)
        await pool.release(listener)


async def _sleep(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    waits = [asyncio.create_task(wake.wait()), asyncio.create_task(stop.wait())]
    _, pending = await asyncio.wait(waits, timeout=seconds,
                                    return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()


async def deliver_all_due(pool: asyncpg.Pool, postman: Postman,
                          settings: NotificationsSettings) -> None:
    """Deliver until nothing is due, with a few messages in flight at once."""

    async def drain() -> None:
        while await deliver_one(pool, postman, settings):
            pass

    await asyncio.gather(*(drain() for _ in range(settings.delivery_concurrency)))


async def deliver_one(pool: asyncpg.Pool, postman: Postman,
                      settings: NotificationsSettings) -> bool:
    """Handle one due message (send, defer or withhold); False when none is due."""
    try:
        async with pool.acquire() as conn, conn.transaction():
            message = await store.claim_due(conn)
            if message is None:
                return False
            await _handle(conn, message, postman, settings)
            return True
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as trouble:
        # the database itself is in trouble: the next round tries again
        log.error("delivery loop: %s", type(trouble).__name__)
        return False


async def _handle(conn: Connection, message: DueMessage, postman: Postman,
                  settings: NotificationsSettings) -> None:
    now = utc_now()
    zone = await site_time_zone(conn, message.site_id)
    if domain.observes_quiet_hours(message.urgent, message.channel):
        policies = await site_policies(conn, message.site_id)
        until = domain.quiet_until(now, zone, policies.quiet_hours_start,
                                   policies.quiet_hours_end)
        if until is not None:
            await store.defer(conn, message.id, until)
            return
    if not await _consent_allows(conn, message, zone, now):
        await store.withhold(conn, message)
        return
    with tracer.start_as_current_span(
        f"deliver {message.kind.value}", context=context_from(message.trace_context),
        attributes={"iopnet.channel": message.channel.value},
    ):
        try:
            await _send(conn, message, postman, zone, now)
        except Exception as failure:  # every failure is logged by class and retried
            NOTIFICATION_DELIVERIES.labels(message.channel.value, "failed").inc()
            await _failed(conn, message, failure, settings)
        else:
            NOTIFICATION_DELIVERIES.labels(message.channel.value, "sent").inc()
            await _sent(conn, message, utc_now())


async def _consent_allows(conn: Connection, message: DueMessage, zone: str, now: datetime
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


async def _send(conn: Connection, message: DueMessage, postman: Postman, zone: str,
                now: datetime) -> None:
    if message.channel is Channel.WEBHOOK:
        channels = await store.site_channels(conn, message.site_id)
        if not channels.webhook_url or not channels.webhook_secret:
            raise NoWebhookConfigured()
        payload = domain.webhook_payload(
            message_id=str(message.id), kind=message.kind.value, cause_type=message.cause_type,
            patient_id=message.patient_id, site_id=message.site_id,
            occurred_at=message.occurred_at, facts=message.facts)
        await postman.post_webhook(channels.webhook_url, channels.webhook_secret,
                                   domain.webhook_body(payload), now)
        return
    address = await store.email_address(conn, message.patient_id, message.recipient_role,
                                        message.recipient_id, message.site_id)
    if not address:
        raise NoContactAddress()
    await postman.send_email(address, await _render(conn, message, zone, now), message)


async def _render(conn: Connection, message: DueMessage, zone: str, now: datetime
                  ) -> RenderedEmail:
    extra: dict[str, str] = {}
    if message.kind is domain.MessageKind.FAMILY_SCHEDULE_UPDATE:
        starts = await store.session_starts(conn, message.patient_id)
        extra = domain.schedule_outline(starts, zone, now)
    context = domain.render_context(
        message.kind, message.facts, patient_id=message.patient_id,
        site_name=await store.site_name(conn, message.site_id), zone=zone, extra=extra)
    return domain.render(await store.template_for(conn, message.site_id, message.kind), context)


async def _failed(conn: Connection, message: DueMessage, failure: Exception,
                  settings: NotificationsSettings) -> None:
    attempt = message.attempts + 1
    retry_at = domain.next_attempt_at(attempt, utc_now(), settings.delivery_backoff_seconds,
                                      settings.delivery_max_attempts)
    status = DeliveryStatus.PENDING if retry_at else DeliveryStatus.FAILED
    log.warning("message %s attempt %s failed: %s", message.id, attempt,
                type(failure).__name__)
    await store.record_attempt(conn, message, status=status, outcome="failed",
                               error_class=type(failure).__name__, next_due=retry_at)


async def _sent(conn: Connection, message: DueMessage, sent_at: datetime) -> None:
    await store.record_attempt(conn, message, status=DeliveryStatus.SENT, outcome="sent",
                               sent_at=sent_at)
    event = NotificationSent(
        patient_id=message.patient_id, site_id=message.site_id, message_id=str(message.id),
        kind=message.kind.value, channel=message.channel,
        recipient_role=message.recipient_role, sent_at=sent_at)
    cause = Cause(correlation_id=message.correlation_id, causation_id=message.cause_id)
    await EVENTS.append(conn, f"message-{message.id}", 0, [event], cause)
