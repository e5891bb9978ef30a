"""Admit through intake's API; every other service shows the patient within seconds."""

import time
import uuid

import pytest

from tests.conftest import eventually
from tests.e2e.client import Api
from tests.e2e.conftest import Site

pytestmark = pytest.mark.e2e

CONSUMERS = ("plans", "sessions", "family", "notifications")

REFERRAL = {
    "source": "provider",
    "patient": {"given_name": "Ada", "family_name": "Example", "birth_date": "1990-04-02"},
}
ADMISSION = {
    "program_id": "iop-adult", "start_date": "2026-12-01", "days_per_week": 4,
    "planned_weeks": 10, "clinician_id": "clin-7",
}


async def refer_and_admit(api: Api) -> str:
    referred = await api.post("intake", "/v1/referrals", json=REFERRAL)
    assert referred.status_code == 201, referred.text
    patient_id: str = referred.json()["patient_id"]
    admitted = await api.post("intake", f"/v1/patients/{patient_id}/admission", json=ADMISSION)
    assert admitted.status_code == 201, admitted.text
    assert admitted.json()["status"] == "admitted"
    return patient_id


async def test_admitted_patient_is_visible_in_every_other_service(north: Site) -> None:
    api = north.api
    started = time.monotonic()
    patient_id = await refer_and_admit(api)

    async def visible_everywhere() -> bool:
        answers = [await api.get(s, f"/v1/patients/{patient_id}") for s in CONSUMERS]
        return all(a.status_code == 200 for a in answers)

    await eventually(visible_everywhere, timeout=5)
    print(f"\nPatientAdmitted visible in all four services after "
          f"{time.monotonic() - started:.2f}s")
    sessions = (await api.get("sessions", f"/v1/patients/{patient_id}")).json()
    assert sessions["site_id"] == "site-north"
    assert sessions["weekly_hours_target"] == 12
    messages = (await api.get("notifications", f"/v1/patients/{patient_id}")).json()["messages"]
    assert [m["kind"] for m in messages] == ["welcome"]


async def test_a_retried_referral_with_the_same_key_is_recorded_once(north: Site) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await north.api.post("intake", "/v1/referrals", json=REFERRAL, headers=key)
    again = await north.api.post("intake", "/v1/referrals", json=REFERRAL, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    other = await north.api.post("intake", "/v1/referrals", json={**REFERRAL, "source": "self"},
                                 headers=key)
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"


async def test_invalid_admission_names_the_field_at_fault(north: Site) -> None:
    referred = await north.api.post("intake", "/v1/referrals", json=REFERRAL)
    patient_id = referred.json()["patient_id"]
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
    assert patient["version"] == 2
