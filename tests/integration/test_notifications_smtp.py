"""Email through a relay that wants TLS and a login: STARTTLS, implicit TLS, AUTH.

Real aiosmtpd servers on 127.0.0.1, with a certificate made for the test; the
postman sends exactly as the worker does.
"""

from __future__ import annotations

import smtplib
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from pydantic import ValidationError

from services.notifications.delivery import Postman
from services.notifications.domain import RenderedEmail
from services.notifications.domain.message import Message
from services.notifications.settings import NotificationsSettings
from tests.conftest import free_port

pytestmark = [pytest.mark.integration,
              pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")]

USER, PASSWORD = "iopnet", "relay-password-0123"


class Inbox:
    def __init__(self) -> None:
        self.mails: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.mails.append(envelope.original_content or b"")
        return "250 OK"


def authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                  auth_data: Any) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
          and auth_data.password == PASSWORD.encode())
    return AuthResult(success=ok)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA)."""
    folder = tmp_path_factory.mktemp("smtp-tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    return context


@pytest.fixture
def relay(request: pytest.FixtureRequest, certificate: tuple[Path, Path]
          ) -> Iterator[tuple[Inbox, int]]:
    """A relay requiring AUTH; ``request.param``: "plain", "starttls" or "tls"."""
    inbox, port = Inbox(), free_port()
    kind = request.param
    tls = server_tls(certificate)
    # aiosmtpd only knows of STARTTLS's TLS: over implicit TLS it must not ask for more
    options: dict[str, Any] = {"auth_required": True, "authenticator": authenticator,
                               "auth_require_tls": kind == "starttls"}
    if kind == "starttls":
        options |= {"tls_context": tls, "require_starttls": True}
    controller = Controller(inbox, hostname="127.0.0.1", port=port,
                            ssl_context=tls if kind == "tls" else None,
                            server_hostname="127.0.0.1", **options)
    controller.start()
    yield inbox, port
    controller.stop()


def postman(port: int, **settings: Any) -> Postman:
    return Postman.of(NotificationsSettings(smtp_host="127.0.0.1", smtp_port=port,
                                            smtp_timeout_seconds=5, **settings))


async def send(postman: Postman) -> None:
    message = Message("6f1c2a5e-4b1d-4f53-9a49-0c2b1e7d8a10")
    await postman.send_email("patient@example.org", RenderedEmail("Hello", "Welcome."),
                             message)


@pytest.mark.parametrize(("relay", "tls"), [
    ("plain", {}),  # a relay on loopback: a login without TLS is allowed there
    ("starttls", {"smtp_starttls": True}),
    ("tls", {"smtp_tls": True}),
], indirect=["relay"])
async def test_the_postman_logs_in_and_the_mail_goes(
    relay: tuple[Inbox, int], tls: dict[str, Any], certificate: tuple[Path, Path],
) -> None:
    inbox, port = relay
    await send(postman(port, smtp_username=USER, smtp_password=PASSWORD,
                       smtp_ca_file=str(certificate[0]), **tls))
    [mail] = inbox.mails
    assert b"Subject: Hello" in mail


@pytest.mark.parametrize("relay", ["starttls"], indirect=True)
async def test_without_the_login_or_with_a_wrong_one_the_relay_refuses(
    relay: tuple[Inbox, int], certificate: tuple[Path, Path],
) -> None:
    inbox, port = relay
    tls = {"smtp_starttls": True, "smtp_ca_file": str(certificate[0])}
    with pytest.raises(smtplib.SMTPSenderRefused):
        await send(postman(port, **tls))
    with pytest.raises(smtplib.SMTPException):  # refused (aiosmtpd may hang up instead)
        await send(postman(port, smtp_username=USER, smtp_password="wrong", **tls))
    assert inbox.mails == []


@pytest.mark.parametrize("relay", ["starttls"], indirect=True)
async def test_a_certificate_the_worker_does_not_trust_is_refused(
    relay: tuple[Inbox, int],
) -> None:
    inbox, port = relay
    with pytest.raises(ssl.SSLCertVerificationError):
        await send(postman(port, smtp_starttls=True, smtp_username=USER,
                           smtp_password=PASSWORD))
    assert inbox.mails == []


def test_a_login_is_never_sent_in_the_clear_over_the_network() -> None:
    with pytest.raises(ValidationError, match="IOPNET_SMTP_STARTTLS"):
        NotificationsSettings(smtp_host="smtp.example.org", smtp_username=USER,
                              smtp_password=PASSWORD)
    with pytest.raises(ValidationError, match="exclude each other"):
        NotificationsSettings(smtp_starttls=True, smtp_tls=True)
    NotificationsSettings(smtp_host="smtp.example.org", smtp_starttls=True,
                          smtp_username=USER, smtp_password=PASSWORD)
