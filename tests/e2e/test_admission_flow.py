"""Admit through intake's API; every other service shows the patient within seconds."""

import time
import uuid

import asyncpg
import pytest

from tests.conftest import eventually
from tests.e2e.client import Api
from tests.e2e.conftest import Site
from tests.e2e.journeys import HIGH_RISK, NO_RISK, admit, assess, refer
from tests.fixtures.dates import program_start

pytestmark = pytest.mark.e2e

CONSUMERS = ("plans", "sessions", "family", "notifications")

REFERRAL = {
    "source": "provider",
    "patient": {"given_name": "Ada", "family_name": "Example", "birth_date": "1990-04-02"},
}
ADMISSION = {
    "program_id": "iop-adult", "start_date": program_start().isoformat(), "days_per_week": 4,
    "planned_weeks": 10, "clinician_id": "clin-7",
}


async def refer_and_admit(api: Api) -> str:
    return await admit(api)


async def test_admitted_patient_is_visible_in_every_other_service(north: Site) -> None:
    api = north.api
    started = time.monotonic()
    patient_id = await refer_and_admit(api)

    async def visible_everywhere() -> bool:
        answers = [await api.get(s, f"/v1/patients/{patient_id}") for s in CONSUMERS]
        return all(a.status_code == 200 for a in answers)

    await eventually(visible_everywhere, timeout=30)  # the time it took is printed, not judged
    print(f"\nPatientAdmitted visible in all four services after "
          f"{time.monotonic() - started:.2f}s")
    sessions = (await api.get("sessions", f"/v1/patients/{patient_id}")).json()
    assert sessions["site_id"] == "site-north"
    assert sessions["weekly_hours_target"] == 12
    messages = (await api.get("notifications", f"/v1/patients/{patient_id}")).json()["messages"]
    assert "welcome" in [m["kind"] for m in messages]


async def referrals_recorded(api: Api) -> int:
    conn = await asyncpg.connect(api.stack.database_url["intake"])
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM events WHERE event_type = 'iopnet.PatientReferred'")
        return count
    finally:
        await conn.close()


async def test_a_retried_referral_with_the_same_key_is_recorded_once(north: Site) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    before = await referrals_recorded(north.api)
    first = await north.api.post("intake", "/v1/referrals", json=REFERRAL, headers=key)
    again = await north.api.post("intake", "/v1/referrals", json=REFERRAL, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    assert await referrals_recorded(north.api) == before + 1  # one event, not two
    patient = (await north.api.get("intake", f"/v1/patients/{first.json()['patient_id']}")).json()
    assert patient["version"] == 2  # referred and identified, once
    other = await north.api.post("intake", "/v1/referrals", json={**REFERRAL, "source": "self"},
                                 headers=key)
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"


async def test_invalid_admission_names_the_field_at_fault(north: Site) -> None:
    patient_id = await refer(north.api)
    await assess(north.api, patient_id, "phq9", items=[2] * 9)
    await assess(north.api, patient_id, "cssrs", answers=NO_RISK)
    answer = await north.api.post("intake", f"/v1/patients/{patient_id}/admission",
                                  json={**ADMISSION, "days_per_week": 7})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert [e["pointer"] for e in answer.json()["errors"]] == ["#/days_per_week"]
    unknown = await north.api.post("intake", f"/v1/patients/{uuid.uuid4()}/admission",
                                   json=ADMISSION)
    assert unknown.status_code == 404


async def test_admitting_twice_is_a_conflict_not_a_second_event(north: Site) -> None:
    patient_id = await refer_and_admit(north.api)
    again = await north.api.post("intake", f"/v1/patients/{patient_id}/admission",
                                 json=ADMISSION)
    assert again.status_code == 409
    patient = (await north.api.get("intake", f"/v1/patients/{patient_id}")).json()
    # referred and identified, two assessments with their answers, admitted
    assert patient["version"] == 7


async def test_a_high_risk_referral_is_declined_not_admitted(north: Site) -> None:
    patient_id = await refer(north.api, "self")
    await assess(north.api, patient_id, "phq9", items=[3] * 9)
    await assess(north.api, patient_id, "cssrs", answers=HIGH_RISK)
    recommendation = (await north.api.get(
        "intake", f"/v1/patients/{patient_id}/recommendation")).json()
    assert recommendation["level"] == "inpatient" and recommendation["urgent_alert"]
    refused = await north.api.post("intake", f"/v1/patients/{patient_id}/admission",
                                   json=ADMISSION)
    assert refused.status_code == 409
    declined = await north.api.post("intake", f"/v1/patients/{patient_id}/decline",
                                    json={"clinician_id": "clin-7"})
    assert declined.status_code == 201, declined.text
    assert declined.json()["decided_level"] == "inpatient"


async def test_invalid_responses_point_at_the_item(north: Site) -> None:
    patient_id = await refer(north.api)
    answer = await north.api.post("intake", f"/v1/patients/{patient_id}/assessments",
                                  json={"instrument": "phq9", "items": [1] * 8 + [5]})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["pointer"] == "#/items/8"
    short = await north.api.post("intake", f"/v1/patients/{patient_id}/assessments",
                                 json={"instrument": "gad7", "items": [1] * 6})
    assert short.json()["errors"][0]["pointer"] == "#/items"
