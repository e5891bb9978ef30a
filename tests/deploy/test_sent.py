"""``iopctl up``'s mail sink and webhook receiver, and ``iopctl sent`` listing what they got.

A mail and signed webhooks are sent to them the way notifications sends
(SMTP; POST with its signature headers); the listing shows each, newest last,
with whether the signature verified.
"""

from __future__ import annotations

import json
import smtplib
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from iopctl.cli import main
from iopctl.errors import InfraError
from iopctl.sent import received
from iopctl.sinks import LocalSinks, sent_dir, webhook_secret_file
from services.notifications.domain.signature import signed_headers
from tests.conftest import free_port


@pytest.fixture
def sinks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalSinks]:
    monkeypatch.setenv("IOPNET_HOME", str(tmp_path))
    monkeypatch.setenv("IOPNET_MAIL_SINK_PORT", str(free_port()))
    monkeypatch.setenv("IOPNET_WEBHOOK_RECEIVER_PORT", str(free_port()))
    for variable in ("IOPNET_SMTP_HOST", "IOPNET_SMTP_PORT"):
        monkeypatch.delenv(variable, raising=False)
    started = LocalSinks.on_default_ports().start()
    yield started
    started.stop()


def send_mail(sinks: LocalSinks, to: str, subject: str, kind: str) -> None:
    mail = EmailMessage()
    mail["From"] = "iopnet notifications <notifications@iopnet.local>"
    mail["To"] = to
    mail["Subject"] = subject
    mail["X-Iopnet-Kind"] = kind
    mail.set_content("Your first session is on Tuesday at 9:00.")
    env = sinks.smtp_env()
    with smtplib.SMTP(env["IOPNET_SMTP_HOST"], int(env["IOPNET_SMTP_PORT"]), timeout=5) as smtp:
        smtp.send_message(mail)


def post_webhook(sinks: LocalSinks, secret: str, payload: dict[str, str]) -> int:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {"Content-Type": "application/json",
               **signed_headers(secret, body, datetime.now(UTC))}
    return httpx.post(sinks.webhooks.url, content=body, headers=headers, timeout=5).status_code


def test_what_was_sent_is_listed_newest_last_with_its_signature_checked(
        sinks: LocalSinks, capsys: pytest.CaptureFixture[str]) -> None:
    secret = webhook_secret_file().read_text().strip()
    assert webhook_secret_file().stat().st_mode & 0o077 == 0
    send_mail(sinks, "ada@example.org", "Welcome to the program", "welcome")
    alert = {"type": "iopnet.RiskSignalRaised", "kind": "urgent_alert", "patient_id": "p-1"}
    assert post_webhook(sinks, secret, alert) == 200
    forged = {"type": "iopnet.SteppedDown", "kind": "aftercare_summary", "patient_id": "p-2"}
    assert post_webhook(sinks, "not-the-site-secret", forged) == 401

    assert main(["sent"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert "email" in lines[0]
    assert 'to ada@example.org: "Welcome to the program" (welcome)' in lines[0]
    assert "webhook" in lines[1]
    assert ("POST /webhook, signature verified: iopnet.RiskSignalRaised urgent_alert p-1"
            in lines[1])
    assert "signature NOT verified (answered 401): iopnet.SteppedDown" in lines[2]

    assert main(["outbox", "--full"]) == 0
    full = capsys.readouterr().out
    assert "Your first session is on Tuesday at 9:00." in full
    assert '"kind": "urgent_alert"' in full
    kept = sorted(p.name for p in sent_dir().rglob("*") if p.is_file())
    assert [name.rsplit(".", 1)[1] for name in kept] == ["eml", "json", "json"]


def test_an_email_file_is_the_message_as_sent(sinks: LocalSinks) -> None:
    send_mail(sinks, "family@example.org", "A long subject " * 8, "family_schedule")
    [email] = received()
    assert email.path.read_bytes().startswith(b"From: iopnet notifications")
    assert "A long subject A long subject" in email.summary  # unfolded


def test_nothing_received_says_where_the_sinks_listen(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("IOPNET_HOME", str(tmp_path))
    monkeypatch.delenv("IOPNET_MAIL_SINK_PORT", raising=False)
    assert main(["sent"]) == 0
    assert "nothing received yet" in (out := capsys.readouterr().out)
    assert "127.0.0.1:2525" in out and "http://127.0.0.1:8025/webhook" in out


def test_email_goes_to_the_sink_unless_the_environment_names_a_server(
        sinks: LocalSinks, monkeypatch: pytest.MonkeyPatch) -> None:
    assert sinks.smtp_env() == {"IOPNET_SMTP_HOST": "127.0.0.1",
                                "IOPNET_SMTP_PORT": str(sinks.mail.port)}
    monkeypatch.setenv("IOPNET_SMTP_HOST", "smtp.example.org")
    assert sinks.smtp_env() == {}


def test_a_taken_port_is_an_error_naming_its_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOPNET_HOME", str(tmp_path))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("IOPNET_WEBHOOK_RECEIVER_PORT", str(taken.getsockname()[1]))
        monkeypatch.setenv("IOPNET_MAIL_SINK_PORT", str(mail_port := free_port()))
        with pytest.raises(InfraError, match="IOPNET_WEBHOOK_RECEIVER_PORT"):
            LocalSinks.on_default_ports().start()
    with socket.socket() as probe:  # the mail sink started first was stopped again
        probe.bind(("127.0.0.1", mail_port))
