"""``iopctl sent``: every email and webhook the local system sent, as a partner received it.

Reads what the mail sink and the webhook receiver (sinks.py) kept under
``.iopnet/sent/`` and lists it oldest first, newest last: for an email its
recipient, subject and kind; for a webhook whether its signature verified and
the event it tells of. ``--full`` adds each message's content.
(Not the transactional outbox of the services: that is rows waiting for Kafka.)
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from iopctl.ports import HOST, mail_sink_port, webhook_receiver_port
from iopctl.sinks import MAIL_SUFFIX, WEBHOOK_PATH, WEBHOOK_SUFFIX, sent_dir


@dataclass(frozen=True)
class Received:
    at: datetime
    channel: str
    summary: str
    content: str
    path: Path

    def line(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S}Z  {self.channel:<8} {self.summary}"


def received(folder: Path | None = None) -> list[Received]:
    """Everything kept under ``folder`` (default ``.iopnet/sent``), in order of arrival."""
    folder = folder or sent_dir()
    found = [_email(p) for p in (folder / "mail").glob(f"*{MAIL_SUFFIX}")]
    found += [_webhook(p) for p in (folder / "webhooks").glob(f"*{WEBHOOK_SUFFIX}")]
    return sorted(found, key=lambda r: (r.at, r.path.name))


def _arrival(path: Path) -> datetime:
    stamp = path.name.split("-", 1)[0]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)


def _email(path: Path) -> Received:
    mail = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(mail, EmailMessage)
    subject = " ".join(str(mail["Subject"] or "").split())
    summary = f'to {mail["To"]}: "{subject}"'
    if mail["X-Iopnet-Kind"]:
        summary += f" ({mail['X-Iopnet-Kind']})"
    body = mail.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    content = f"From: {mail['From']}\nTo: {mail['To']}\nSubject: {subject}\n\n{text}"
    return Received(_arrival(path), "email", summary, content, path)


def _webhook(path: Path) -> Received:
    record: dict[str, Any] = json.loads(path.read_text())
    verdict = ("signature verified" if record["verified"]
               else f"signature NOT verified (answered {record['answered']})")
    summary = f"POST {record['path']}, {verdict}"
    try:
        body = json.loads(record["body"])
    except ValueError:
        body = None
    if isinstance(body, dict):
        told = " ".join(str(body[k]) for k in ("type", "kind", "patient_id") if k in body)
        summary += f": {told}" if told else ""
        content = json.dumps(body, indent=2, sort_keys=True)
    else:
        content = record["body"]
    return Received(_arrival(path), "webhook", summary, content, path)


def _list(args: argparse.Namespace) -> int:
    found = received()
    if not found:
        print(f"nothing received yet in {sent_dir()}: `iopctl up` runs the mail sink on"
              f" {HOST}:{mail_sink_port()} and the webhook receiver on"
              f" http://{HOST}:{webhook_receiver_port()}{WEBHOOK_PATH}")
    for item in found:
        print(item.line())
        if args.full:
            print("    " + item.content.replace("\n", "\n    ").rstrip() + "\n")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "sent", aliases=["outbox"],
        help="the emails and webhooks the local system sent (mail sink, webhook receiver)")
    parser.add_argument("--full", action="store_true", help="show each message's content")
    parser.set_defaults(handler=_list)
