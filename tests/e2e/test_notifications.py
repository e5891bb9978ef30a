"""Notifications on the running system: real email over SMTP and signed webhooks.

Each test onboards a site of its own, so its quiet hours and channels are its
own. Email goes to the session's ``mail`` server (the stack points
notifications at it); webhooks to a receiver that checks every signature.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import eventually
from tests.e2e.client import Api
from tests.e2e.conftest import known_everywhere
from tests.e2e.journeys import HIGH_RISK, NO_RISK, assess, refer
from tests.e2e.receivers import MailCatcher, WebhookReceiver
from tests.fixtures.dates import program_start

pytestmark = pytest.mark.e2e

SECRET = "e2e-webhook-secret-0123456789"
NO_QUIET_HOURS = {"quiet_hours_start": "00:00:00", "quiet_hours_end": "00:00:00"}
ALWAYS_QUIET = {"quiet_hours_start": "00:00:00", "quiet_hours_end": "23:59:00"}
START = program_start()


@pytest.fixture(scope="module")
def hooks() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(SECRET).start()
    yield receiver
    receiver.stop()


async def own_site(operator: Api, hooks: WebhookReceiver, policies: dict[str, str]
                   ) -> tuple[str, Api]:
    """A new site with its policies, a key, and its notification channels set."""
    site_id = f"site-notify-{uuid.uuid4().hex[:6]}"
    onboarded = await operator.post("intake", "/v1/network/sites", json={
        "site_id": site_id, "name": "Lakeside Clinic", "time_zone": "America/Chicago",
        "policies": policies})
    assert onboarded.status_code == 201, onboarded.text
    api = operator.with_key((await operator.issue_key(site_id))["api_key"])
    await known_everywhere(api)
    channels = await api.put("notifications", f"/v1/sites/{site_id}/channels", json={
        "clinician_alert_email": f"alerts@{site_id}.example.org",
        "webhook_url": hooks.url, "webhook_secret": SECRET})
    assert channels.status_code == 200, channels.text
    return site_id, api


async def known_to_notifications(api: Api, method: str, path: str, body: dict[str, Any]
                                 ) -> None:
    """Notifications learns of patients from events: retry until it knows this one."""
    async def accepted() -> bool:
        answer = await getattr(api, method)("notifications", path, json=body)
        assert answer.status_code in (200, 404), answer.text
        return bool(answer.status_code == 200)

    await eventually(accepted, timeout=15)


async def messages(api: Api, patient_id: str) -> list[dict[str, Any]]:
    answer = await api.get("notifications", f"/v1/patients/{patient_id}")
    if answer.status_code == 404:
        return []
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["messages"]
    return found


async def test_admission_welcomes_the_patient_by_email_and_logs_the_delivery(
    operator: Api, mail: MailCatcher, hooks: WebhookReceiver,
) -> None:
    site_id, api = await own_site(operator, hooks, NO_QUIET_HOURS)
    template = await api.put("notifications", f"/v1/sites/{site_id}/templates/welcome", json={
        "subject": "Welcome to ${site_name}", "body": "Dear patient, we start on ${start_date}."})
    assert template.status_code == 200, template.text

    patient_id = await refer(api)
    await assess(api, patient_id, "phq9", items=[3, 3, 3, 3, 2, 2, 2, 2, 0])
    await assess(api, patient_id, "cssrs", answers=NO_RISK)
    address = f"patient-{patient_id[:8]}@example.org"
    await known_to_notifications(api, "put", f"/v1/patients/{patient_id}/contact",
                                 {"email": address})
    admitted = await api.post("intake", f"/v1/patients/{patient_id}/admission", json={
        "program_id": "iop-adult", "start_date": START.isoformat(), "days_per_week": 4,
        "planned_weeks": 10, "clinician_id": "clin-7"})
    assert admitted.status_code == 201, admitted.text

    async def welcomed() -> bool:
        return len(mail.to(address, "welcome")) == 1

    await eventually(welcomed, timeout=20)
    [email] = mail.to(address, "welcome")
    assert MailCatcher.subject(email) == "Welcome to Lakeside Clinic"
    assert MailCatcher.text(email).strip() == f"Dear patient, we start on {START.isoformat()}."

    async def recorded_as_sent() -> bool:
        return any(m["kind"] == "welcome" and m["status"] == "sent"
                   for m in await messages(api, patient_id))

    await eventually(recorded_as_sent, timeout=10)
    view = (await api.get("notifications", f"/v1/patients/{patient_id}")).json()
    assert view["site_id"] == site_id
    [welcome] = [m for m in view["messages"] if m["kind"] == "welcome"]
    assert (welcome["channel"], welcome["recipient_role"], welcome["attempts"]) == (
        "email", "patient", 1)
    log = (await api.get("notifications", f"/v1/messages/{welcome['id']}/deliveries")).json()
    assert [(d["attempt"], d["outcome"]) for d in log["deliveries"]] == [(1, "sent")]
    anonymous = await operator.with_key(None).get("notifications",
                                                    f"/v1/patients/{patient_id}")
    assert anonymous.status_code == 401


async def test_a_high_risk_decline_alerts_the_clinician_and_the_site_despite_quiet_hours(
    operator: Api, mail: MailCatcher, hooks: WebhookReceiver,
) -> None:
    site_id, api = await own_site(operator, hooks, ALWAYS_QUIET)
    patient_id = await refer(api)
    await assess(api, patient_id, "phq9", items=[3, 3, 3, 3, 2, 2, 2, 2, 2])
    await assess(api, patient_id, "cssrs", answers=HIGH_RISK)
    declined = await api.post("intake", f"/v1/patients/{patient_id}/decline",
                              json={"clinician_id": "clin-7"})
    assert declined.status_code == 201, declined.text

    def declined_webhook() -> list[dict[str, Any]]:
        return [p for p in hooks.payloads() if p["patient_id"] == patient_id
                and p["type"] == "iopnet.AdmissionDeclined"]

    async def alerted() -> bool:
        return bool(declined_webhook()) and any(
            patient_id in MailCatcher.subject(m)
            for m in mail.to(f"alerts@{site_id}.example.org", "urgent_alert"))

    await eventually(alerted, timeout=20)
    # PHQ-9 item 9, C-SSRS high and the urgent decline: one alert to each recipient.
    [payload] = declined_webhook()
    assert (payload["kind"], payload["site_id"], payload["recommended_level"]) == (
        "urgent_alert", site_id, "inpatient")
    assert payload["alert_reasons"] == ["phq9_item9", "cssrs_high", "admission_declined"]
    assert "given_name" not in str(payload) and "Ada" not in str(payload)
    assert hooks.rejected == []
    assert [p for p in hooks.payloads() if p["patient_id"] == patient_id] == [payload]
    [email] = [m for m in mail.to(f"alerts@{site_id}.example.org", "urgent_alert")
               if patient_id in MailCatcher.subject(m)]
    causes = MailCatcher.text(email).splitlines()[1:]
    assert [line.split(" (")[0] for line in causes] == [
        "- phq9 item9", "- cssrs high", "- admission declined: inpatient recommended"]

    async def all_sent() -> bool:
        urgent = [m for m in await messages(api, patient_id) if m["kind"] == "urgent_alert"]
        return len(urgent) == 2 and all(m["status"] == "sent" for m in urgent)

    await eventually(all_sent, timeout=10)


async def test_contacts_and_channels_are_the_sites_own(
    operator: Api, hooks: WebhookReceiver,
) -> None:
    site_id, api = await own_site(operator, hooks, NO_QUIET_HOURS)
    other_id, other = await own_site(operator, hooks, NO_QUIET_HOURS)
    patient_id = await refer(api)
    await known_to_notifications(api, "put", f"/v1/patients/{patient_id}/contact",
                                 {"email": "mine@example.org"})
    theirs = await other.put("notifications", f"/v1/patients/{patient_id}/contact",
                             json={"email": "theirs@example.org"})
    assert theirs.status_code == 404
    assert theirs.headers["content-type"] == "application/problem+json"
    across = await other.put("notifications", f"/v1/sites/{site_id}/channels",
                             json={"clinician_alert_email": "x@example.org"})
    assert across.status_code == 403
    plain_http = await api.put("notifications", f"/v1/sites/{site_id}/channels", json={
        "webhook_url": "http://ehr.example.org/hook", "webhook_secret": SECRET})
    assert plain_http.status_code == 422
    assert [e["pointer"] for e in plain_http.json()["errors"]] == ["#/webhook_url"]
    assert other_id != site_id
