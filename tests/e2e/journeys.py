"""Steps of a patient's path through the public APIs, shared by the end-to-end tests."""

from __future__ import annotations

from datetime import date
from typing import Any

from tests.e2e.client import Api

NO_RISK = {"wish_to_be_dead": False, "suicidal_thoughts": False, "method": False,
           "intent": False, "plan": False, "behavior": False}
HIGH_RISK = {**NO_RISK, "wish_to_be_dead": True, "suicidal_thoughts": True, "plan": True}
MODERATELY_SEVERE = [2] * 9  # PHQ-9 18, item 9 = 2
SEVERE_NO_ITEM9 = [3, 3, 3, 3, 2, 2, 2, 2, 0]  # PHQ-9 20, item 9 = 0


async def refer(api: Api, source: str = "provider", **extra: Any) -> str:
    answer = await api.post("intake", "/v1/referrals", json={
        "source": source,
        "patient": {"given_name": "Ada", "family_name": "Example", "birth_date": "1990-04-02"},
        **extra,
    })
    assert answer.status_code == 201, answer.text
    patient_id: str = answer.json()["patient_id"]
    return patient_id


async def assess(api: Api, patient_id: str, instrument: str, **responses: Any) -> dict[str, Any]:
    answer = await api.post("intake", f"/v1/patients/{patient_id}/assessments",
                            json={"instrument": instrument, **responses})
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def admit(
    api: Api,
    *,
    phq9: list[int] | None = None,
    cssrs: dict[str, bool] | None = None,
    gad7: list[int] | None = None,
    auditc: list[int] | None = None,
    start_date: date | None = None,
    days_per_week: int = 4,
    planned_weeks: int = 10,
    program_id: str = "iop-adult",
    clinician_id: str = "clin-7",
    source: str = "provider",
) -> str:
    """Refer, assess and admit a patient; returns the patient id."""
    patient_id = await refer(api, source)
    await assess(api, patient_id, "phq9", items=phq9 or SEVERE_NO_ITEM9)
    await assess(api, patient_id, "cssrs", answers=cssrs or NO_RISK)
    if gad7 is not None:
        await assess(api, patient_id, "gad7", items=gad7)
    if auditc is not None:
        await assess(api, patient_id, "auditc", items=auditc, sex_at_birth="female")
    answer = await api.post("intake", f"/v1/patients/{patient_id}/admission", json={
        "program_id": program_id, "start_date": (start_date or date.today()).isoformat(),
        "days_per_week": days_per_week, "planned_weeks": planned_weeks,
        "clinician_id": clinician_id,
    })
    assert answer.status_code == 201, answer.text
    return patient_id
