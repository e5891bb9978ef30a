"""The webhook receiver ``make up`` runs, fed by the real notifications service.

A site points its webhook at the local receiver with the secret kept in
``.iopnet/webhook.secret``, as the README tells a newcomer to; an urgent alert
then arrives signed the way notifications signs, the receiver verifies it, and
``iopctl sent`` lists it. (The stack's email goes to the session's own SMTP
server; tests/deploy/test_sent.py sends mail to the sink.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from iopctl.cli import main
from iopctl.sent import received
from iopctl.sinks import LocalSinks, webhook_secret_file
from tests.conftest import eventually, free_port
from tests.e2e.client import Api
from tests.e2e.conftest import known_everywhere
from tests.e2e.journeys import HIGH_RISK, assess, refer

pytestmark = pytest.mark.e2e


@pytest.fixture
def sinks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalSinks]:
    monkeypatch.setenv("IOPNET_HOME", str(tmp_path))
    monkeypatch.setenv("IOPNET_MAIL_SINK_PORT", str(free_port()))
    monkeypatch.setenv("IOPNET_WEBHOOK_RECEIVER_PORT", str(free_port()))
    started = LocalSinks.on_default_ports().start()
    yield started
    started.stop()


async def test_an_urgent_alert_reaches_the_local_receiver_verified(
        operator: Api, sinks: LocalSinks, capsys: pytest.CaptureFixture[str]) -> None:
    site_id = f"site-sinks-{uuid.uuid4().hex[:6]}"
    onboarded = await operator.post("intake", "/v1/network/sites", json={
        "site_id": site_id, "name": "Harbor Clinic", "time_zone": "America/Chicago"})
    assert onboarded.status_code == 201, onboarded.text
    api = operator.with_key((await operator.issue_key(site_id))["api_key"])
    await known_everywhere(api)
    channels = await api.put("notifications", f"/v1/sites/{site_id}/channels", json={
        "webhook_url": sinks.webhooks.url,
        "webhook_secret": webhook_secret_file().read_text().strip()})
    assert channels.status_code == 200, channels.text

    patient_id = await refer(api)
    await assess(api, patient_id, "cssrs", answers=HIGH_RISK)

    async def alerted() -> bool:
        return any(r.channel == "webhook" and patient_id in r.summary for r in received())

    await eventually(alerted, timeout=30)
    assert main(["sent"]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if patient_id in line]
    assert "signature verified: iopnet." in line and "urgent_alert" in line
