"""Delivery: the worker's loop that sends due messages by email (SMTP) and signed webhook.

Each message is claimed with ``FOR UPDATE SKIP LOCKED`` in its own transaction
and stays locked while it is sent, so two workers never send it both; the
attempt, its outcome and (on success) ``NotificationSent`` are recorded in the
message's stream, through the command handler, and commit together.
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

import asyncpg
import httpx

from iopnet.envelope import utc_now
from iopnet.eventstore import Cause
from iopnet.settings import ServiceSettings
from services.notifications import commands, store
from services.notifications.domain import RenderedEmail
from services.notifications.domain.message import Message
from services.notifications.domain.signature import signed_headers
from services.notifications.settings import NotificationsSettings

log = logging.getLogger(__name__)


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

    async def send_email(self, to: str, email: RenderedEmail, message: Message) -> None:
        mail = EmailMessage()
        mail["From"] = self.settings.smtp_from
        mail["To"] = to
        mail["Subject"] = email.subject
        mail["Message-ID"] = make_msgid(domain="iopnet.local")
        mail["X-Iopnet-Message-Id"] = message.id
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
    """Deliver what is due now, with a few messages in flight at once. A retry that falls
    due during the round waits for the next round: one round, one attempt a message."""
    round_at = utc_now()

    async def drain() -> None:
        while await deliver_one(pool, postman, settings, round_at):
            pass

    await asyncio.gather(*(drain() for _ in range(settings.delivery_concurrency)))


async def deliver_one(pool: asyncpg.Pool, postman: Postman,
                      settings: NotificationsSettings, due_by: datetime | None = None) -> bool:
    """Handle one message due by ``due_by`` (send, defer or withhold); False when none is."""
    try:
        async with pool.acquire() as conn, conn.transaction():
            claimed = await store.claim_due(conn, due_by)
            if claimed is None:
                return False
            cause = Cause(correlation_id=claimed.correlation_id, causation_id=claimed.cause_id)
            await commands.deliver(
                commands.unit_of_work(conn, cause), claimed.id, postman,
                commands.Retries(settings.delivery_backoff_seconds,
                                 settings.delivery_max_attempts))
            return True
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as trouble:
        # the database itself is in trouble: the next round tries again
        log.error("delivery loop: %s", type(trouble).__name__)
        return False
