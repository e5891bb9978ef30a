"""Stand-ins for a partner's endpoints on this machine: an SMTP mail sink and a webhook receiver.

``iopctl up`` starts both so that what notifications sends arrives somewhere a
newcomer can look (``iopctl sent``) instead of failing and being retried. Each
keeps every message it receives as one file under ``.iopnet/sent/``: an email as
the ``.eml`` it was, a webhook as JSON with its headers, body and whether its
signature verified with the local secret (``.iopnet/webhook.secret``), checked
the way a partner would, with notifications' own verification.

Both listen on 127.0.0.1 only and run in threads of the process that starts
them. aiosmtpd is a development dependency (``make up`` syncs it); the service
image has none, so it is imported only when the sink starts.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iopctl import paths
from iopctl.errors import InfraError
from iopctl.ports import HOST, mail_sink_port, webhook_receiver_port
from iopctl.progress import say
from services.notifications.domain.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

if TYPE_CHECKING:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, Envelope, Session

WEBHOOK_PATH = "/webhook"
MAIL_SUFFIX = ".eml"
WEBHOOK_SUFFIX = ".json"


def sent_dir() -> Path:
    return paths.state_dir() / "sent"


def webhook_secret_file() -> Path:
    return paths.state_dir() / "webhook.secret"


def webhook_secret() -> str:
    """The secret the local receiver verifies with: made once, kept like the operator key."""
    keyfile = webhook_secret_file()
    if not keyfile.exists():
        keyfile.parent.mkdir(parents=True, exist_ok=True)
        keyfile.touch(mode=0o600)
        keyfile.write_text(secrets.token_urlsafe(24))
    return keyfile.read_text().strip()


def arrival_name(suffix: str) -> str:
    """A file name that sorts by arrival: UTC time to the microsecond, then a tiebreak."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{stamp}-{uuid.uuid4().hex[:6]}{suffix}"


def keep(folder: Path, name: str, content: bytes) -> Path:
    """Write a received message whole, then rename it into place: a reader never sees half."""
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{name}.partial"
    partial.write_bytes(content)
    return partial.rename(folder / name)


class _MailKeeper:
    """aiosmtpd's handler: accepts every message and keeps it as an .eml file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        keep(self.folder, arrival_name(MAIL_SUFFIX), content)
        return "250 Message accepted for delivery"


@dataclass
class MailSink:
    """An SMTP server on 127.0.0.1 that accepts every message and keeps it."""

    port: int
    folder: Path
    _controller: Controller | None = None

    def start(self) -> MailSink:
        from aiosmtpd.controller import Controller  # a development dependency: see the module

        self._controller = Controller(_MailKeeper(self.folder), hostname=HOST, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@dataclass
class WebhookReceiver:
    """An HTTP endpoint on 127.0.0.1 that keeps every POST, answering 200 when its
    signature verifies with ``secret`` and 401 when it does not, as a partner would."""

    port: int
    folder: Path
    secret: str
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{WEBHOOK_PATH}"

    def start(self) -> WebhookReceiver:
        self._server = ThreadingHTTPServer((HOST, self.port), self._handler())
        threading.Thread(target=self._server.serve_forever, name="webhook-receiver",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def receive(self, path: str, headers: dict[str, str], body: bytes) -> int:
        """Keep one delivery; the status to answer."""
        verified = verify(self.secret, body, headers.get(TIMESTAMP_HEADER.lower(), ""),
                          headers.get(SIGNATURE_HEADER.lower(), ""), datetime.now(UTC))
        status = 200 if verified else 401
        record = {"received_at": datetime.now(UTC).isoformat(), "path": path,
                  "verified": verified, "answered": status, "headers": headers,
                  "body": body.decode(errors="replace")}
        keep(self.folder, arrival_name(WEBHOOK_SUFFIX), json.dumps(record, indent=2).encode())
        return status

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {name.lower(): value for name, value in self.headers.items()}
                status = receiver.receive(self.path, headers, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # `iopctl sent` shows what arrived

        return Handler


@dataclass
class LocalSinks:
    """Both stand-ins, as ``iopctl up`` runs them."""

    mail: MailSink
    webhooks: WebhookReceiver

    @classmethod
    def on_default_ports(cls) -> LocalSinks:
        folder = sent_dir()
        return cls(MailSink(mail_sink_port(), folder / "mail"),
                   WebhookReceiver(webhook_receiver_port(), folder / "webhooks", webhook_secret()))

    def start(self) -> LocalSinks:
        """Start both, or neither: a taken port is an InfraError naming its variable."""
        try:
            self.mail.start()
        except OSError as exc:
            raise InfraError(f"mail sink: cannot listen on {HOST}:{self.mail.port} ({exc});"
                             " IOPNET_MAIL_SINK_PORT moves it") from exc
        try:
            self.webhooks.start()
        except OSError as exc:
            self.mail.stop()
            raise InfraError(f"webhook receiver: cannot listen on {HOST}:{self.webhooks.port}"
                             f" ({exc}); IOPNET_WEBHOOK_RECEIVER_PORT moves it") from exc
        return self

    def stop(self) -> None:
        self.webhooks.stop()
        self.mail.stop()

    def smtp_env(self) -> dict[str, str]:
        """Where notifications sends email under ``iopctl up``: the sink, unless the
        developer's environment names an SMTP server (``IOPNET_SMTP_HOST``/``_PORT``)."""
        if os.environ.get("IOPNET_SMTP_HOST") or os.environ.get("IOPNET_SMTP_PORT"):
            say("sinks", "email goes to the IOPNET_SMTP_* server, not the local mail sink")
            return {}
        return {"IOPNET_SMTP_HOST": HOST, "IOPNET_SMTP_PORT": str(self.mail.port)}
