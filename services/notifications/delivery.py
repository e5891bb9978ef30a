"""Delivery: the worker's job that sends due messages by email (SMTP) and signed webhook.

A due message is claimed and leased to this worker in one short transaction,
which also records what needs no send (a deferral, a withholding, a missing
address) and reads what the send needs. The send then runs outside any
transaction, bounded by its deadline, and its outcome (with ``NotificationSent``
on success) is recorded in another, which ends the lease. A worker killed
mid-send leaves a lease that lapses, and the message is sent again: at least
once, never silently lost.

One slow partner cannot hold up the rest: sends run side by side
(``delivery_concurrency``), at most ``delivery_site_concurrency`` of them for one
site, each within ``webhook_timeout_seconds``, and an endpoint that keeps failing
has its circuit opened (domain/circuits.py). Urgent messages are claimed first.
The job wakes on NOTIFY when a message becomes due, and polls as a safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

import asyncpg

from iopnet.db import Connection
from iopnet.eventstore import Cause
from iopnet.settings import ServiceSettings
from services.notifications import commands, store
from services.notifications.domain import RenderedEmail
from services.notifications.domain.circuits import Circuits
from services.notifications.domain.message import Message
from services.notifications.domain.signature import signed_headers
from services.notifications.settings import NotificationsSettings
from services.notifications.webhook_client import WebhookClient

log = logging.getLogger(__name__)
DATABASE_TROUBLE = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


@dataclass
class Postman:
    """The two ways a message leaves: an SMTP server and HTTPS webhooks."""

    settings: NotificationsSettings
    webhooks: WebhookClient

    @classmethod
    def of(cls, settings: NotificationsSettings) -> Postman:
        return cls(settings, WebhookClient(
            timeout_seconds=settings.webhook_timeout_seconds,
            max_response_bytes=settings.webhook_max_response_bytes,
            allow_internal=settings.webhook_allow_internal_addresses))

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
        with self._smtp() as smtp:
            settings = self.settings
            if settings.smtp_starttls:
                smtp.starttls(context=self._tls())
            if settings.smtp_username:
                password = settings.smtp_password.get_secret_value() \
                    if settings.smtp_password else ""
                smtp.login(settings.smtp_username, password)
            smtp.send_message(mail)

    def _smtp(self) -> smtplib.SMTP:
        settings = self.settings
        if settings.smtp_tls:
            return smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port,
                                    timeout=settings.smtp_timeout_seconds, context=self._tls())
        return smtplib.SMTP(settings.smtp_host, settings.smtp_port,
                            timeout=settings.smtp_timeout_seconds)

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.smtp_ca_file)

    async def post_webhook(self, url: str, secrets: Sequence[str], body: bytes, now: datetime
                           ) -> None:
        headers = {"Content-Type": "application/json", **signed_headers(secrets, body, now)}
        await self.webhooks.post(url, body, headers)


@dataclass
class Dispatcher:
    """Claims due messages and sends them side by side, each in its own task."""

    pool: asyncpg.Pool
    postman: Postman
    settings: NotificationsSettings
    circuits: Circuits
    in_flight: set[asyncio.Task[None]] = field(default_factory=set)

    @classmethod
    def of(cls, pool: asyncpg.Pool, postman: Postman, settings: NotificationsSettings
           ) -> Dispatcher:
        return cls(pool, postman, settings, Circuits(
            settings.circuit_failure_threshold,
            timedelta(seconds=settings.circuit_cooldown_seconds)))

    @property
    def retries(self) -> commands.Retries:
        return commands.Retries(self.settings.delivery_backoff_seconds,
                                self.settings.delivery_max_attempts)

    async def fill(self, stop: asyncio.Event | None = None) -> None:
        """Claim due messages while send slots are free and something is claimable, until
        ``stop``; each at most once a round (a quick retry waits for the next). A claim that
        needs no send (a deferral, a missing address) frees no slot: with thousands due,
        a round is long, and a stop must not wait for its end."""
        passed: list[str] = []
        while len(self.in_flight) < self.settings.delivery_concurrency:
            if (stop is not None and stop.is_set()) or not await self._claim_next(passed):
                return

    async def _claim_next(self, passed: list[str]) -> bool:
        """Claim one message: False when none is due (or the database is in trouble)."""
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                claimed = await store.claim_due(conn, self.settings.delivery_lease_seconds,
                                                self.settings.delivery_site_concurrency,
                                                passed)
                if claimed is None:
                    return False
                passed.append(claimed.id)
                outgoing = await self._prepare(conn, claimed)
        except DATABASE_TROUBLE as trouble:  # the next round tries again
            log.error("delivery: claiming failed: %s", type(trouble).__name__)
            return False
        if outgoing is not None:
            task = asyncio.create_task(self._send(claimed, outgoing))
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)
        return True

    async def _prepare(self, conn: Connection, claimed: store.Claimed
                       ) -> commands.Outgoing | None:
        """What to send; None when nothing is (what happened instead is recorded)."""
        uow = commands.unit_of_work(conn, _cause_of(claimed))
        try:
            async with conn.transaction():  # a savepoint: a failure keeps the lease
                outgoing = await commands.prepare_delivery(uow, claimed.id, self.retries,
                                                           self.circuits)
        except DATABASE_TROUBLE:
            raise
        except Exception:  # a bug with one message must not hold up the others
            log.exception("delivery: message %s could not be prepared", claimed.id)
            return None  # leased: left alone until the lease lapses
        if outgoing is None:
            await store.release(conn, claimed.id)
        return outgoing

    async def _send(self, claimed: store.Claimed, outgoing: commands.Outgoing) -> None:
        failure = await commands.send(outgoing, self.postman, self.circuits)
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await commands.record_delivery(commands.unit_of_work(conn, _cause_of(claimed)),
                                               claimed.id, failure, self.retries)
                await store.release(conn, claimed.id)
        except Exception:  # the lease lapses and the message goes again: at least once
            log.exception("delivery: the outcome of message %s was not recorded", claimed.id)

    async def settle(self) -> None:
        """Wait for the sends in flight (each bounded by its deadline)."""
        if self.in_flight:
            await asyncio.wait(set(self.in_flight))


def _cause_of(claimed: store.Claimed) -> Cause:
    return Cause(correlation_id=claimed.correlation_id, causation_id=claimed.cause_id)


async def deliver_due_messages(pool: asyncpg.Pool, settings: ServiceSettings,
                               stop: asyncio.Event) -> None:
    """The background job (``SPEC.background``): deliver until told to stop."""
    assert isinstance(settings, NotificationsSettings)
    wake = asyncio.Event()

    def on_due(*_: object) -> None:
        wake.set()

    listener = await pool.acquire()
    await listener.add_listener(store.DUE_CHANNEL, on_due)
    dispatcher = Dispatcher.of(pool, Postman.of(settings), settings)
    try:
        while not stop.is_set():
            wake.clear()
            try:
                await dispatcher.fill(stop)
            except Exception:  # keep the worker alive; the next round tries again
                log.exception("delivery round failed")
            await _sleep(wake, stop, dispatcher, settings.delivery_poll_seconds)
        await dispatcher.settle()
    finally:
        with contextlib.suppress(Exception):
            await listener.remove_listener(store.DUE_CHANNEL, on_due)
        await pool.release(listener)


async def _sleep(wake: asyncio.Event, stop: asyncio.Event, dispatcher: Dispatcher,
                 seconds: float) -> None:
    """Until a message is due, the job must stop, a send slot frees up, or it is time."""
    waits = [asyncio.create_task(wake.wait()), asyncio.create_task(stop.wait())]
    _, pending = await asyncio.wait([*waits, *dispatcher.in_flight], timeout=seconds,
                                    return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        if task in waits:
            task.cancel()


async def deliver_all_due(pool: asyncpg.Pool, postman: Postman,
                          settings: NotificationsSettings,
                          dispatcher: Dispatcher | None = None) -> None:
    """Deliver until nothing is due and nothing is in flight (tests, one round)."""
    dispatcher = dispatcher or Dispatcher.of(pool, postman, settings)
    while True:
        await dispatcher.fill()
        if not dispatcher.in_flight:
            return
        await asyncio.wait(set(dispatcher.in_flight), return_when=asyncio.FIRST_COMPLETED)
