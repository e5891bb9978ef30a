"""Urgent alerts and clinical notices on the running system: an alert nobody acknowledges
escalates to the site's second contact; an acknowledgement (even a late one) is recorded
once; a refused schedule, a recertification and leaving against advice reach the clinicians.

The site's window is set short through the channels API; the worker's escalation job
polls often under the e2e stack (``FAST_DELIVERY``). Every wait is for the state it checks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from iopnet.catalog import Scope
from services.intake.domain.certification import months_after
from tests.conftest import eventually
from tests.e2e.client import Api
from tests.e2e.conftest import known_everywhere
from tests.e2e.journeys import (
    NO_RISK,
    SEVERE_NO_ITEM9,
    assess,
    drafted_plan,
    messages,
    onboard_site,
    phq9_items,
    refer,
    wait_for,
)
from tests.e2e.receivers import MailCatcher, WebhookReceiver
from tests.fixtures.dates import SITE_TIME_ZONE, site_today

pytestmark = pytest.mark.e2e

SECRET = "e2e-alerts-webhook-secret-0123"


@pytest.fixture(scope="module")
def hooks() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(SECRET).start()
    yield receiver
    receiver.stop()


async def site_with_escalation(operator: Api, hooks: WebhookReceiver, window: str
                               ) -> tuple[str, Api]:
    """A site of its own, its alerts acknowledged within ``window`` or escalated."""
    site_id = f"site-alerts-{uuid.uuid4().hex[:6]}"
    api = await onboard_site(operator, site_id, name="Harbour Clinic")
    channels = await api.put("notifications", f"/v1/sites/{site_id}/channels", json={
        "clinician_alert_email": f"alerts@{site_id}.example.org",
        "escalation_email": f"on-call@{site_id}.example.org",
        "acknowledge_within": window,
        "webhook_url": hooks.url, "webhook_secret": SECRET})
    assert channels.status_code == 200, channels.text
    assert channels.json()["escalation_email"] == f"on-call@{site_id}.example.org"
    return site_id, api


async def alerts_of(api: Api, patient_id: str, status: str = "all") -> list[dict[str, Any]]:
    answer = await api.get("notifications", "/v1/alerts",
                           params={"patient_id": patient_id, "status": status})
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["alerts"]
    return found


async def test_an_unacknowledged_alert_escalates_and_a_late_acknowledgement_is_recorded(
    operator: Api, mail: MailCatcher, hooks: WebhookReceiver,
) -> None:
    site_id, api = await site_with_escalation(operator, hooks, "PT2S")
    patient_id = await refer(api)
    await assess(api, patient_id, "phq9", items=phq9_items(12, item9=1))

    async def raised() -> bool:
        return len(await alerts_of(api, patient_id, "unacknowledged")) == 1

    await eventually(raised, timeout=30)
    [alert] = await alerts_of(api, patient_id)
    alert_id = alert["alert_id"]
    assert (alert["site_id"], alert["alert_reasons"]) == (site_id, ["phq9_item9"])

    on_call = f"on-call@{site_id}.example.org"

    async def escalated() -> bool:
        [now] = await alerts_of(api, patient_id)
        return (now["status"] == "escalated" and bool(mail.to(on_call, "alert_escalation"))
                and bool(mail.to(f"alerts@{site_id}.example.org", "urgent_alert"))
                and any(p.get("alert_id") == alert_id and p["kind"] == "alert_escalation"
                        for p in hooks.payloads()))

    await eventually(escalated, timeout=45)
    [email] = mail.to(on_call, "alert_escalation")
    assert alert_id in MailCatcher.subject(email) and patient_id in MailCatcher.subject(email)
    # The clinicians' own alert named the alert id they acknowledge it by.
    [urgent] = mail.to(f"alerts@{site_id}.example.org", "urgent_alert")
    assert alert_id in MailCatcher.subject(urgent)
    # Still unacknowledged: it stays on the list until a clinician has it in hand.
    assert [a["alert_id"] for a in await alerts_of(api, patient_id, "unacknowledged")] == [
        alert_id]

    path = f"/v1/alerts/{alert_id}/acknowledgement"
    first = await api.post("notifications", path,
                           json={"clinician_id": "clin-7", "note": "reached by phone"})
    assert first.status_code == 200, first.text
    assert (first.json()["status"], first.json()["acknowledged_by"]) == (
        "acknowledged", "clin-7")
    again = await api.post("notifications", path, json={"clinician_id": "clin-9"})
    assert again.status_code == 200, again.text
    assert again.json()["acknowledged_by"] == "clin-7"
    assert again.json()["acknowledged_at"] == first.json()["acknowledged_at"]

    view = await api.get("notifications", f"/v1/alerts/{alert_id}")
    assert view.status_code == 200, view.text
    trail = view.json()["trail"]
    assert [e["event"] for e in trail] == ["AlertRaised", "AlertEscalated",
                                           "AlertAcknowledged"]
    assert trail[2]["clinician_id"] == "clin-7"
    assert trail[2]["detail"] == {"after_escalation": True, "note": "reached by phone"}
    assert await alerts_of(api, patient_id, "unacknowledged") == []
    # Both acknowledgements are in notifications' audit trail, by key and alert.
    audit = await operator.get("notifications", "/v1/audit", params={"site_id": site_id})
    assert audit.status_code == 200, audit.text
    assert [(e["action"], e["outcome"]) for e in audit.json()
            if alert_id in e["resource"] and e["action"].startswith("POST")] == [
        ("POST /v1/alerts/{alert_id}/acknowledgement", 200)] * 2
    # One escalation, to each of the second contact and the site's systems.
    assert len(mail.to(on_call, "alert_escalation")) == 1
    assert len([p for p in hooks.payloads() if p.get("alert_id") == alert_id]) == 1


async def test_acknowledging_is_a_clinical_write_of_the_alerts_own_site(
    operator: Api, hooks: WebhookReceiver,
) -> None:
    site_id, api = await site_with_escalation(operator, hooks, "PT30M")
    patient_id = await refer(api)
    await assess(api, patient_id, "phq9", items=phq9_items(12, item9=1))
    await assess(api, patient_id, "cssrs", answers=NO_RISK)

    async def raised() -> bool:
        return len(await alerts_of(api, patient_id)) == 1

    await eventually(raised, timeout=30)
    [alert] = await alerts_of(api, patient_id)
    path = f"/v1/alerts/{alert['alert_id']}/acknowledgement"
    refused = await api.post("notifications", path, json={"clinician_id": ""})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["pointer"] == "#/clinician_id"

    _, other = await site_with_escalation(operator, hooks, "PT30M")
    assert (await other.post("notifications", path,
                             json={"clinician_id": "clin-7"})).status_code == 404
    reader = operator.with_key((await operator.issue_key(site_id, [Scope.READ]))["api_key"])
    await known_everywhere(reader)
    assert (await reader.post("notifications", path,
                              json={"clinician_id": "clin-7"})).status_code == 403
    unknown = await api.post("notifications", f"/v1/alerts/{uuid.uuid4()}/acknowledgement",
                             json={"clinician_id": "clin-7"})
    assert unknown.status_code == 404
    [still] = await alerts_of(api, patient_id)
    assert (still["status"], still["escalated_at"]) == ("open", None)


async def test_a_refused_schedule_a_recertification_and_leaving_against_advice_are_told(
    operator: Api, mail: MailCatcher, hooks: WebhookReceiver,
) -> None:
    """Through the public APIs: intake admits with a certification, sessions refuses a
    schedule under 9 hours, plans records the patient leaving against advice."""
    site_id, api = await site_with_escalation(operator, hooks, "PT30M")
    clinic = f"alerts@{site_id}.example.org"
    program_id = f"iop-{uuid.uuid4().hex[:6]}"
    created = await api.post("sessions", "/v1/programs",
                             json={"program_id": program_id, "name": "Groups come later"})
    assert created.status_code == 201, created.text
    patient_id = await refer(api)
    await assess(api, patient_id, "phq9", items=SEVERE_NO_ITEM9)
    await assess(api, patient_id, "cssrs", answers=NO_RISK)
    today = site_today()
    admitted = await api.post("intake", f"/v1/patients/{patient_id}/admission", json={
        "program_id": program_id, "start_date": today.isoformat(), "days_per_week": 3,
        "planned_weeks": 8, "clinician_id": "clin-7",
        "certification": {"certified_by": "dr-rao", "diagnosis_codes": ["F33.1"]}})
    assert admitted.status_code == 201, admitted.text

    async def enrolled() -> bool:
        return (await api.get("sessions", f"/v1/patients/{patient_id}")).status_code == 200

    await eventually(enrolled, timeout=20)
    # One 3-hour day of groups (and counseling) is no IOP week: nothing is scheduled.
    added = await api.post("sessions", f"/v1/programs/{program_id}/groups", json={
        "group_id": f"{program_id}-thu", "modality": "cbt", "clinician_id": "clin-g",
        "weekday": 3, "start_time": "10:00", "capacity": 6})
    assert added.status_code == 201, added.text

    def notices(kind: str) -> list[Any]:
        return [m for m in mail.to(clinic, kind) if patient_id in MailCatcher.subject(m)]

    async def told() -> bool:
        return len(notices("schedule_refused")) == 1

    await eventually(told, timeout=30)
    assert "needs at least 9 hours a week" in MailCatcher.text(notices("schedule_refused")[0])

    async def recertification() -> list[dict[str, Any]]:
        return [m for m in await messages(api, patient_id)
                if m["kind"].startswith("recertification")]

    reminders = await wait_for(recertification, lambda found: len(found) == 2)
    recertify_by = months_after(today, 2)
    zone = ZoneInfo(SITE_TIME_ZONE)
    assert sorted((m["kind"], m["status"], datetime.fromisoformat(m["due_at"]))
                  for m in reminders) == [
        ("recertification_due", "pending",
         datetime.combine(recertify_by - timedelta(days=7), time(9), tzinfo=zone)),
        ("recertification_overdue", "pending",
         datetime.combine(recertify_by + timedelta(days=1), time(9), tzinfo=zone))]

    await drafted_plan(api, patient_id)
    left = await api.post("plans", f"/v1/patients/{patient_id}/discharge", json={
        "outcome": "left_against_advice", "effective_on": today.isoformat(),
        "clinician_id": "clin-7"})
    assert left.status_code == 201, left.text

    async def alerted() -> bool:
        return any(a["alert_reasons"] == ["left_against_advice"]
                   for a in await alerts_of(api, patient_id))

    await eventually(alerted, timeout=30)
    ended = await wait_for(recertification,
                           lambda found: {m["status"] for m in found} == {"cancelled"})
    assert len(ended) == 2
