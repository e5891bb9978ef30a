"""Family on the running system: a support person sees only what live consent allows."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import eventually
from tests.e2e.client import Api
from tests.e2e.conftest import Site
from tests.e2e.journeys import admit, phq9_items, wait_for
from tests.fixtures.dates import site_today

pytestmark = pytest.mark.e2e


async def circle_opened(api: Api, patient_id: str) -> None:
    async def visible() -> bool:
        return (await api.get("family", f"/v1/patients/{patient_id}")).status_code == 200

    await eventually(visible, timeout=10)


async def link(api: Api, patient_id: str) -> str:
    answer = await api.post("family", f"/v1/patients/{patient_id}/support-persons", json={
        "relationship": "partner", "given_name": "Grace", "family_name": "Example"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["sharing"] == []
    return str(answer.json()["support_person_id"])


async def grant(api: Api, patient_id: str, person: str, scope: str) -> dict[str, Any]:
    answer = await api.post("family",
                            f"/v1/patients/{patient_id}/support-persons/{person}/consents",
                            json={"scope": scope})
    assert answer.status_code == 201, answer.text
    consent: dict[str, Any] = answer.json()
    return consent


async def shared_view(api: Api, patient_id: str, person: str) -> dict[str, Any]:
    answer = await api.get("family",
                           f"/v1/patients/{patient_id}/support-persons/{person}/shared-view")
    assert answer.status_code == 200, answer.text
    view: dict[str, Any] = answer.json()
    return view


async def test_a_support_person_sees_only_what_live_consent_allows(north: Site) -> None:
    api = north.api
    patient_id = await admit(api)
    await circle_opened(api, patient_id)
    person = await link(api, patient_id)
    assert (await shared_view(api, patient_id, person))["shared"] == []

    await grant(api, patient_id, person, "schedule")
    view = await shared_view(api, patient_id, person)
    assert view["scopes"] == ["schedule"]
    assert [s["scope"] for s in view["shared"]] == ["schedule"]
    for session in view["shared"][0]["upcoming_sessions"]:
        assert set(session) == {"starts_at", "duration_minutes", "kind"}

    progress = await grant(api, patient_id, person, "progress_summaries")
    view = await shared_view(api, patient_id, person)
    assert view["scopes"] == ["progress_summaries", "schedule"]
    summary = view["shared"][1]
    assert summary["scope"] == "progress_summaries"
    assert summary["care_status"] == "in_program"
    assert "total" not in str(summary)

    revoked = await api.post(
        "family", f"/v1/patients/{patient_id}/support-persons/{person}/consents/"
        f"{progress['consent_id']}/revoke")
    assert revoked.status_code == 200, revoked.text
    view = await shared_view(api, patient_id, person)
    assert (view["scopes"], view["shared"]) == ([], [])
    history = (await api.get(
        "family", f"/v1/patients/{patient_id}/support-persons/{person}/consents")).json()
    assert [(c["scope"], c["status"]) for c in history] == [
        ("schedule", "revoked"), ("progress_summaries", "revoked")]


async def test_consent_needs_a_linked_person_and_the_patients_site(north: Site,
                                                                  south: Site) -> None:
    patient_id = await admit(north.api)
    await circle_opened(north.api, patient_id)
    person = await link(north.api, patient_id)
    stranger = await north.api.post(
        "family", f"/v1/patients/{patient_id}/support-persons/{uuid.uuid4()}/consents",
        json={"scope": "schedule"})
    assert stranger.status_code == 404
    assert stranger.headers["content-type"] == "application/problem+json"
    for path in ("", "/support-persons", f"/support-persons/{person}/shared-view"):
        answer = await south.api.get("family", f"/v1/patients/{patient_id}{path}")
        assert answer.status_code == 404, path
    foreign = await south.api.post(
        "family", f"/v1/patients/{patient_id}/support-persons/{person}/consents",
        json={"scope": "progress_summaries"})
    assert foreign.status_code == 404


async def test_a_family_session_is_recorded_with_its_attendance(north: Site) -> None:
    patient_id = await admit(north.api)
    await circle_opened(north.api, patient_id)
    person = await link(north.api, patient_id)
    held = await north.api.post("family", f"/v1/patients/{patient_id}/family-sessions", json={
        "kind": "family_therapy", "held_on": "2026-01-05", "clinician_id": "clin-7",
        "attendance": [{"support_person_id": person, "attended": True}]})
    assert held.status_code == 201, held.text
    sessions = (await north.api.get("family",
                                    f"/v1/patients/{patient_id}/family-sessions")).json()
    assert [(s["kind"], s["attendance"]) for s in sessions] == [
        ("family_therapy", [{"support_person_id": person, "attended": True}])]


async def test_improving_in_a_family_update_is_plans_judgement(north: Site) -> None:
    api = north.api
    patient_id = await admit(api)  # baseline PHQ-9 20
    await circle_opened(api, patient_id)
    person = await link(api, patient_id)
    await grant(api, patient_id, person, "progress_summaries")

    async def enrolled() -> bool:
        return (await api.get("sessions", f"/v1/patients/{patient_id}")).status_code == 200

    await eventually(enrolled, timeout=20)
    measured = await api.post("sessions", f"/v1/patients/{patient_id}/outcomes", json={
        "instrument": "phq9", "items": phq9_items(15), "measured_on": site_today().isoformat()})
    assert measured.status_code == 201, measured.text

    async def trend_shared() -> Any:
        view = await shared_view(api, patient_id, person)
        return next(s for s in view["shared"] if s["scope"] == "progress_summaries")["trend"]

    # 5 points below the baseline: improving, as plans judged it (ProgressJudged).
    assert await wait_for(trend_shared, lambda trend: trend is not None) == "improving"
    progress = (await api.get("plans", f"/v1/patients/{patient_id}/progress")).json()
    assert (progress["phq9"]["latest"], progress["phq9"]["trend"]) == (15, "improving")
