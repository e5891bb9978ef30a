"""Clinical safety at intake, through the public API: risk is never erased by a later screen,
decisions are recorded with who and why, dates are plausible, a safety plan comes first."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.e2e.client import Api
from tests.e2e.conftest import Site
from tests.e2e.journeys import (
    HIGH_RISK,
    NO_RISK,
    SAFETY_PLAN,
    assess,
    drafted_plan,
    ok,
    phq9_items,
    recommendation,
    refer,
    safety_plan,
    screen,
)
from tests.fixtures.dates import program_start, site_today

pytestmark = pytest.mark.e2e

ADMISSION = {"program_id": "iop-adult", "start_date": program_start().isoformat(),
             "days_per_week": 4, "planned_weeks": 10, "clinician_id": "clin-7"}


def pointers(answer: Any) -> list[str]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return [e["pointer"] for e in answer.json()["errors"]]


async def screened(api: Api, phq9: list[int]) -> str:
    """A referred patient with a PHQ-9 and an all-no C-SSRS; the patient id."""
    patient_id = await refer(api)
    await screen(api, patient_id, phq9=phq9, cssrs=NO_RISK)
    return patient_id


async def post(api: Api, patient_id: str, path: str, body: dict[str, Any]) -> Any:
    return await api.post("intake", f"/v1/patients/{patient_id}{path}", json=body)


async def test_a_later_all_no_cssrs_does_not_erase_a_plan_and_the_plan_gets_a_safety_goal(
        north: Site) -> None:
    api = north.api
    patient_id = await refer(api)
    await assess(api, patient_id, "cssrs", answers=HIGH_RISK)  # plan: yes
    await assess(api, patient_id, "cssrs", answers=NO_RISK)  # the same day, all no
    await assess(api, patient_id, "phq9", items=phq9_items(16))
    advice = await recommendation(api, patient_id)
    assert (advice["level"], advice["urgent_alert"], advice["safety_plan_required"]) == (
        "inpatient", True, True), advice

    refused = await post(api, patient_id, "/admission", ADMISSION)
    assert refused.status_code == 409, refused.text
    override = {**ADMISSION, "decided_by": "dr-lee",
                "override_reason": "plan disclosed is passive; partner at home; daily IOP"}
    waits = await post(api, patient_id, "/admission", override)
    assert waits.status_code == 409 and "safety plan" in waits.text, waits.text
    await safety_plan(api, patient_id)
    still = await post(api, patient_id, "/admission", override)
    assert still.status_code == 409 and "same-day risk evaluation" in still.text, still.text
    ok(await post(api, patient_id, "/risk-reviews", {
        "clinician_id": "dr-lee", "reason": "evaluated today: risk persists, safety plan made",
        "findings_cleared": False}))
    admitted = ok(await post(api, patient_id, "/admission", override))
    assert admitted["decision"]["overridden"] is True

    plan, _ = await drafted_plan(api, patient_id)
    goals = [g["goal_id"] for p in plan["problems"] for g in p["goals"]]
    assert "P1.G2" in goals, plan  # the safety goal


async def test_overrides_read_back_from_the_patient_and_the_trail(north: Site) -> None:
    api = north.api
    patient_id = await screened(api, phq9_items(20))
    reason = "lives 3 hours away; day hospital closer to home"
    ok(await post(api, patient_id, "/decline", {
        "clinician_id": "dr-lee", "level": "partial_hospitalization",
        "override_reason": reason}))
    patient = ok(await api.get("intake", f"/v1/patients/{patient_id}"), 200)
    assert patient["decision"] == {
        "level": "partial_hospitalization", "rules_level": "iop", "overridden": True,
        "decided_by": "dr-lee", "override_reason": reason}
    trail = ok(await api.get("intake", f"/v1/patients/{patient_id}/trail"), 200)
    [declined] = [e for e in trail if e["event"] == "AdmissionDeclined"]
    assert declined["clinician_id"] == "dr-lee" and declined["detail"]["reason"] == reason
    assert declined["detail"]["overridden"] is True


async def test_an_admission_override_reads_back(north: Site) -> None:
    api = north.api
    patient_id = await screened(api, phq9_items(8))
    reason = "recent loss; no outpatient therapist available for 2 months"
    ok(await post(api, patient_id, "/admission", {**ADMISSION, "override_reason": reason}))
    decision = ok(await api.get("intake", f"/v1/patients/{patient_id}"), 200)["decision"]
    assert (decision["rules_level"], decision["overridden"], decision["decided_by"],
            decision["override_reason"]) == ("standard_outpatient", True, "clin-7", reason)


async def test_risk_of_harm_is_not_sent_to_outpatient_without_plan_and_evaluation(
        north: Site) -> None:
    api = north.api
    patient_id = await screened(api, phq9_items(12, item9=1))
    advice = await recommendation(api, patient_id)
    assert (advice["level"], advice["reasons"][0]["code"]) == ("iop", "risk_of_harm"), advice
    lower = {"clinician_id": "clin-7", "level": "standard_outpatient",
             "override_reason": "engaged with her own therapist weekly"}
    refused = await post(api, patient_id, "/decline", lower)
    assert refused.status_code == 409, refused.text
    await safety_plan(api, patient_id)
    ok(await post(api, patient_id, "/risk-reviews", {
        "clinician_id": "clin-7", "reason": "same-day evaluation: passive thoughts, no plan",
        "findings_cleared": False}))
    declined = ok(await post(api, patient_id, "/decline", lower))
    assert declined["decision"]["level"] == "standard_outpatient"


async def test_an_assessment_entered_in_error_stops_counting(north: Site) -> None:
    api = north.api
    patient_id = await refer(api)
    wrong = await assess(api, patient_id, "cssrs", answers=HIGH_RISK)
    await assess(api, patient_id, "cssrs", answers=NO_RISK)
    await assess(api, patient_id, "phq9", items=phq9_items(16))
    blank = await post(api, patient_id, f"/assessments/{wrong['assessment_id']}/entered-in-error",
                       {"clinician_id": "clin-7", "reason": " "})
    assert pointers(blank) == ["#/reason"]
    ok(await post(api, patient_id, f"/assessments/{wrong['assessment_id']}/entered-in-error",
                  {"clinician_id": "clin-7", "reason": "answers were another patient's"}), 200)
    assert (await recommendation(api, patient_id))["level"] == "iop"


async def test_implausible_dates_are_refused_naming_the_field(north: Site) -> None:
    api, today = north.api, site_today()
    born_tomorrow = await api.post("intake", "/v1/referrals", json={
        "source": "self", "patient": {"given_name": "Ada", "family_name": "Example",
                                      "birth_date": (today + timedelta(days=1)).isoformat()}})
    assert pointers(born_tomorrow) == ["#/patient/birth_date"]
    patient_id = await refer(api)
    for assessed_on in (today + timedelta(days=1), today.replace(year=2019)):
        answer = await post(api, patient_id, "/assessments", {
            "instrument": "phq9", "items": phq9_items(16),
            "assessed_on": assessed_on.isoformat()})
        assert pointers(answer) == ["#/assessed_on"]
    await screen(api, patient_id, phq9=phq9_items(16), cssrs=NO_RISK)
    early = await post(api, patient_id, "/admission", {
        **ADMISSION, "start_date": (today - timedelta(days=1)).isoformat()})
    assert pointers(early) == ["#/start_date"]


async def test_invalid_answers_point_at_the_request_field(north: Site) -> None:
    api = north.api
    patient_id = await refer(api)
    cssrs = await post(api, patient_id, "/assessments", {
        "instrument": "cssrs", "answers": {**NO_RISK, "intent": "maybe"}})
    assert pointers(cssrs) == ["#/answers/intent"]
    auditc = await post(api, patient_id, "/assessments", {
        "instrument": "auditc", "items": [1, 1, 1], "sex_at_birth": "m"})
    assert pointers(auditc) == ["#/sex_at_birth"]


async def test_the_safety_plan_reads_back_with_the_988_lifeline(north: Site) -> None:
    api = north.api
    patient_id = await refer(api)
    missing = await post(api, patient_id, "/safety-plan", {
        "clinician_id": "clin-7", "plan": {**SAFETY_PLAN, "warning_signs": []}})
    assert pointers(missing) == ["#/plan/warning_signs"]
    written = await safety_plan(api, patient_id)
    read = ok(await api.get("intake", f"/v1/patients/{patient_id}/safety-plan"), 200)
    assert read == written
    assert any("988" in entry for entry in read["plan"]["professionals_and_agencies"])


async def test_a_certification_at_admission_reads_back_with_its_recertification_day(
        north: Site) -> None:
    api = north.api
    patient_id = await screened(api, phq9_items(18))
    bad = await post(api, patient_id, "/admission", {**ADMISSION, "certification": {
        "certified_by": "dr-rao", "diagnosis_codes": ["F33.1", "F41.1"]}})
    assert pointers(bad) == ["#/certification/diagnosis_codes/1"]
    ok(await post(api, patient_id, "/admission", {**ADMISSION, "certification": {
        "certified_by": "dr-rao", "diagnosis_codes": ["F33.1"]}}))
    certified = ok(await api.get("intake", f"/v1/patients/{patient_id}"), 200)["certification"]
    today = site_today()
    assert (certified["certified_by"], certified["certified_on"],
            certified["diagnosis_codes"]) == ("dr-rao", today.isoformat(), ["F33.1"])
    assert certified["recertify_by"] > today.isoformat() and certified["overdue"] is False


async def test_a_minor_needs_a_guardian_and_an_adolescent_program(north: Site) -> None:
    api, today = north.api, site_today()
    sam = {"given_name": "Sam", "family_name": "Example",
           "birth_date": today.replace(year=today.year - 16).isoformat()}
    alone = await api.post("intake", "/v1/referrals", json={"source": "self", "patient": sam})
    assert pointers(alone) == ["#/patient/guardian"]
    patient_id = await refer(api, patient={**sam, "guardian": {
        "given_name": "Ann", "family_name": "Example", "relationship": "mother"}})
    assert ok(await api.get("intake", f"/v1/patients/{patient_id}"), 200)[
        "age_at_referral"] == 16
    await screen(api, patient_id, phq9=phq9_items(18), cssrs=NO_RISK)
    adult = await post(api, patient_id, "/admission", ADMISSION)
    assert pointers(adult) == ["#/program_id"]
    ok(await post(api, patient_id, "/admission", {**ADMISSION, "program_id": "iop-adolescent"}))
