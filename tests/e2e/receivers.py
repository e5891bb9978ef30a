"""Real endpoints for what notifications sends: an SMTP server and a webhook receiver.

Both run in their own threads, so they serve whatever event loop (or none)
the test uses. ``MailCatcher`` is aiosmtpd's real SMTP server on 127.0.0.1;
``WebhookReceiver`` is a plain HTTP server that checks every request's
signature with the site's secret, the way an integrating EHR would.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from services.notifications.domain.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)
from tests.conftest import free_port


class _Collector:
    def __init__(self, sink: Callable[[EmailMessage, Envelope], None]) -> None:
        self.sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        mail = message_from_bytes(content, policy=policy.default)
        self.sink(mail, envelope)
        return "250 Message accepted for delivery"


class MailCatcher:
    """An SMTP server on 127.0.0.1 that keeps every message it accepts."""

    def __init__(self, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self._lock = threading.Lock()
        self._controller = Controller(_Collector(self._keep), hostname=self.host,
                                      port=self.port)

    def _keep(self, mail: EmailMessage, envelope: Envelope) -> None:
        with self._lock:
            self.messages.append(mail)
            self.recipients.append(list(envelope.rcpt_tos))

    def start(self) -> MailCatcher:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def to(self, address: str, kind: str | None = None) -> list[EmailMessage]:
        """The messages sent to an address (optionally of one kind), in arrival order."""
        with self._lock:
            return [m for m in self.messages if address in str(m["To"])
                    and (kind is None or m["X-Iopnet-Kind"] == kind)]

    @staticmethod
    def subject(mail: EmailMessage) -> str:
        """The subject, unfolded (a long one arrives folded onto a continuation line)."""
        return " ".join(str(mail["Subject"]).split())

    @staticmethod
    def text(mail: EmailMessage) -> str:
        body = mail.get_body(preferencelist=("plain",))
        return body.get_content() if body is not None else ""


class WebhookReceiver:
    """An HTTP endpoint that accepts webhooks whose signature verifies with ``secret``.

    ``received`` holds (headers, body) of the verified ones; ``rejected`` the
    others (answered 401). ``fail_next(n)`` answers the next n with 503 (retries).
    """

    def __init__(self, secret: str, port: int | None = None) -> None:
        self.secret = secret
        self.port = port or free_port()
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.rejected: list[tuple[dict[str, str], bytes]] = []
        self._failures_to_give = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/iopnet/webhook"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._failures_to_give = count

    def payloads(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(body) for _, body in self.received]

    def _answer(self, headers: dict[str, str], body: bytes) -> int:
        valid = verify(self.secret, body, headers.get(TIMESTAMP_HEADER.lower(), ""),
                       headers.get(SIGNATURE_HEADER.lower(), ""), datetime.now(UTC))
        with self._lock:
            if not valid:
                self.rejected.append((headers, body))
                return 401
            if self._failures_to_give > 0:
                self._failures_to_give -= 1
                return 503
            self.received.append((headers, body))
            return 200

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                status = receiver._answer(headers, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet test output

        return Handler
