"""Plans on the running system: the plan drafted on admission, revisions under
ETag / If-Match, the revision history, and a step-down refused with its criteria."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import eventually
from tests.e2e.client import Api
from tests.e2e.conftest import Site
from tests.e2e.journeys import (
    admit,
    grant_consent,
    link_support_person,
    revoke_consent,
    safety_plan,
    wait_for,
)
from tests.fixtures.dates import program_start, site_today

pytestmark = pytest.mark.e2e

MILD_ANXIETY_OVER_10 = [2, 2, 2, 2, 1, 1, 1]  # GAD-7 11
PROGRAM = "plans-e2e-iop"
START = program_start()  # a Monday
WEEK_2 = START + timedelta(weeks=1)


async def drafted_plan(api: Api, patient_id: str) -> dict[str, Any]:
    async def drafted() -> bool:
        return (await api.get("plans", f"/v1/patients/{patient_id}/plan")).status_code == 200

    await eventually(drafted, timeout=10)
    answer = await api.get("plans", f"/v1/patients/{patient_id}/plan")
    assert answer.headers["etag"] == '"1"'
    plan: dict[str, Any] = answer.json()
    return plan


async def revise(api: Api, patient_id: str, body: dict[str, Any],
                 if_match: str | None) -> Any:
    headers = {"If-Match": if_match} if if_match is not None else {}
    return await api.post("plans", f"/v1/patients/{patient_id}/plan/revisions", json=body,
                          headers=headers)


LESS_GROUP = {"changes": [{"change": "change_frequency", "intervention_id": "I1",
                           "sessions_per_week": 3}],
              "reason": "patient_preference", "note": "works Fridays now"}


async def test_admission_drafts_a_plan_from_the_findings(north: Site) -> None:
    patient_id = await admit(north.api, gad7=MILD_ANXIETY_OVER_10)
    plan = await drafted_plan(north.api, patient_id)
    assert (plan["revision"], plan["status"], plan["clinician_id"]) == (1, "active", "clin-7")
    assert [p["code"] for p in plan["problems"]] == ["depression", "anxiety"]
    depression = plan["problems"][0]
    assert depression["goals"][0]["objectives"][0]["objective_id"] == "P1.G1.O1"
    modalities = {i["modality"]: i for i in plan["interventions"]}
    assert modalities["group_therapy"]["sessions_per_week"] == 4
    assert {"dbt_skills", "skill_building"} <= modalities.keys()
    assert "family_therapy" not in modalities  # no family consent was granted
    assert all(i["clinician_id"] == "clin-7" and i["target_date"] for i in modalities.values())
    episode = (await north.api.get("plans", f"/v1/patients/{patient_id}")).json()
    assert (episode["plan_status"], episode["revision"]) == ("active", 1)
    unchanged = await north.api.get("plans", f"/v1/patients/{patient_id}/plan",
                                    headers={"If-None-Match": '"1"'})
    assert unchanged.status_code == 304


async def test_revisions_need_the_current_etag_and_are_never_merged(north: Site) -> None:
    api = north.api
    patient_id = await admit(api)
    await drafted_plan(api, patient_id)

    missing = await revise(api, patient_id, LESS_GROUP, None)
    assert missing.status_code == 428, missing.text
    assert missing.headers["content-type"] == "application/problem+json"

    revised = await revise(api, patient_id, LESS_GROUP, '"1"')
    assert revised.status_code == 201, revised.text
    assert revised.headers["etag"] == '"2"'
    assert revised.json()["interventions"][0]["sessions_per_week"] == 3

    stale = await revise(api, patient_id, {**LESS_GROUP, "changes": [
        {"change": "remove_intervention", "intervention_id": "I5"}]}, '"1"')
    assert stale.status_code == 412, stale.text
    assert stale.json()["current_revision"] == 2
    assert stale.headers["etag"] == '"2"'

    added = await revise(api, patient_id, {"reason": "lack_of_progress", "changes": [
        {"change": "add_intervention", "modality": "dbt_skills", "sessions_per_week": 1,
         "addresses": ["P1.G1.O1"]},
        {"change": "remove_intervention", "intervention_id": "I5"}]}, '"2"')
    assert added.status_code == 201, added.text

    history = (await api.get("plans", f"/v1/patients/{patient_id}/plan/revisions")).json()
    assert [(r["revision"], r["kind"], r["reason"]) for r in history] == [
        (1, "drafted", None), (2, "revised", "patient_preference"),
        (3, "revised", "lack_of_progress")]
    assert history[1]["change_codes"] == ["frequency:I1:4->3"]
    assert history[1]["note"] == "works Fridays now"
    assert history[1]["by"] == north.key_id
    assert history[2]["change_codes"] == ["added:I6", "removed:I5"]
    assert [c["change"] for c in history[2]["changes"]] == ["add_intervention",
                                                            "remove_intervention"]


async def test_an_impossible_change_names_the_change_at_fault(north: Site) -> None:
    patient_id = await admit(north.api)
    await drafted_plan(north.api, patient_id)
    answer = await revise(north.api, patient_id, {"reason": "progress", "changes": [
        {"change": "change_frequency", "intervention_id": "I1", "sessions_per_week": 3},
        {"change": "remove_intervention", "intervention_id": "I42"}]}, '"1"')
    assert answer.status_code == 422, answer.text
    assert [e["pointer"] for e in answer.json()["errors"]] == ["#/changes/1/intervention_id"]


async def test_step_down_is_refused_with_the_criteria_until_they_are_met(north: Site) -> None:
    api = north.api
    patient_id = await admit(api)
    await drafted_plan(api, patient_id)

    evaluation = (await api.get("plans", f"/v1/patients/{patient_id}/step-down-evaluation")
                  ).json()
    assert evaluation["eligible"] is False
    assert "time_in_program" in evaluation["unmet"]
    assert evaluation["policy"]["min_weeks_in_program"] == 6

    refused = await api.post("plans", f"/v1/patients/{patient_id}/step-down", json={
        "clinician_id": "clin-7", "effective_on": site_today().isoformat(),
        "follow_up_within_days": 7,
        "aftercare": ["weekly_outpatient_therapy", "relapse_prevention_plan", "crisis_line"]})
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert {"time_in_program", "symptom_improvement", "attendance"} <= set(problem["unmet"])
    assert {c["code"] for c in problem["criteria"]} == {
        "time_in_program", "symptom_improvement", "no_risk_signals", "attendance"}
    still_open = (await api.get("plans", f"/v1/patients/{patient_id}")).json()
    assert still_open["plan_status"] == "active"


async def test_a_step_up_closes_the_plan(north: Site) -> None:
    api = north.api
    patient_id = await admit(api)
    await drafted_plan(api, patient_id)
    stepped = await api.post("plans", f"/v1/patients/{patient_id}/step-up", json={
        "to_level": "partial_hospitalization", "reason_codes": ["clinical_deterioration"],
        "effective_on": site_today().isoformat(), "clinician_id": "clin-7"})
    assert stepped.status_code == 201, stepped.text
    assert (stepped.json()["kind"], stepped.json()["to_level"]) == (
        "stepped_up", "partial_hospitalization")
    closed = await revise(api, patient_id, LESS_GROUP, '"1"')
    assert closed.status_code == 409, closed.text
    again = await api.post("plans", f"/v1/patients/{patient_id}/discharge", json={
        "outcome": "completed", "effective_on": site_today().isoformat()})
    assert again.status_code == 409
    progress = (await api.get("plans", f"/v1/patients/{patient_id}/progress")).json()
    assert progress["plan_status"] == "stepped_up"


async def test_another_site_cannot_see_or_revise_the_plan(north: Site, south: Site) -> None:
    patient_id = await admit(north.api)
    await drafted_plan(north.api, patient_id)
    for path in ("", "/plan", "/plan/revisions", "/progress", "/step-down-evaluation"):
        answer = await south.api.get("plans", f"/v1/patients/{patient_id}{path}")
        assert answer.status_code == 404, path
    assert (await revise(south.api, patient_id, LESS_GROUP, '"1"')).status_code == 404


async def test_a_clinician_may_override_unmet_criteria_with_a_reason(north: Site) -> None:
    api = north.api
    patient_id = await admit(api)
    await drafted_plan(api, patient_id)
    stepped = await api.post("plans", f"/v1/patients/{patient_id}/step-down", json={
        "clinician_id": "clin-7", "effective_on": site_today().isoformat(),
        "follow_up_within_days": 7, "aftercare": ["weekly_outpatient_therapy"],
        "override_reason": "moving abroad; outpatient therapist arranged there"})
    assert stepped.status_code == 201, stepped.text
    body = stepped.json()
    assert (body["kind"], body["to_level"], body["plan_status"]) == (
        "stepped_down", "standard_outpatient", "stepped_down")
    assert "time_in_program" in body["overridden_criteria"]
    episode = (await api.get("plans", f"/v1/patients/{patient_id}")).json()
    assert episode["transition"]["aftercare"] == ["weekly_outpatient_therapy"]


async def test_progress_follows_sessions_attendance_and_weekly_phq9(north: Site) -> None:
    api = north.api
    created = await api.post("sessions", "/v1/programs",
                             json={"program_id": PROGRAM, "name": "Adult IOP (plans e2e)"})
    assert created.status_code in (200, 201), created.text
    for weekday, group_id in enumerate(["plans-e2e-mon", "plans-e2e-tue", "plans-e2e-wed"]):
        answer = await api.post("sessions", f"/v1/programs/{PROGRAM}/groups", json={
            "group_id": group_id, "modality": "group_therapy", "weekday": weekday,
            "capacity": 8, "clinician_id": "clin-g", "start_time": "09:00"})
        assert answer.status_code in (200, 201), answer.text
    patient_id = await admit(api, program_id=PROGRAM, start_date=START, days_per_week=3,
                             planned_weeks=8)  # baseline PHQ-9 20
    await drafted_plan(api, patient_id)

    async def scheduled() -> list[dict[str, Any]]:
        answer = await api.get("sessions", f"/v1/patients/{patient_id}/sessions")
        return answer.json() if answer.status_code == 200 else []

    async def is_scheduled() -> bool:
        return bool(await scheduled())

    await eventually(is_scheduled, timeout=15)
    first, second, *_ = sorted(await scheduled(), key=lambda s: s["starts_at"])
    for session, status in ((first, "attended"), (second, "absent")):
        answer = await api.post("sessions", f"/v1/sessions/{session['session_id']}/attendance",
                                json={"patient_id": patient_id, "status": status})
        assert answer.status_code == 201, answer.text
    measured = await api.post("sessions", f"/v1/patients/{patient_id}/outcomes", json={
        "instrument": "phq9", "items": [1] * 9, "measured_on": WEEK_2.isoformat()})
    assert measured.status_code == 201, measured.text

    async def progress() -> dict[str, Any]:
        answer = await api.get("plans", f"/v1/patients/{patient_id}/progress",
                               params={"as_of": WEEK_2.isoformat()})
        body: dict[str, Any] = answer.json()
        return body

    async def caught_up() -> bool:
        now = await progress()
        return (now["attendance"]["attended"] == 1 and bool(now["phq9"]["trajectory"])
                and bool(now["risk_signals"]))

    await eventually(caught_up, timeout=15)
    now = await progress()
    assert now["attendance"]["missed_unexcused"] == 1
    assert now["attendance"]["scheduled_to_date"] >= 2
    assert [(p["total"], p["change_from_baseline"]) for p in now["phq9"]["trajectory"]] == [
        (9, -11)]
    assert now["phq9"]["response"] is True
    assert now["risk_signals"] == [{"signal": "phq9_item9", "observed_on": WEEK_2.isoformat()}]
    assert now["step_up"]["review_required"] is True
    depression = next(g for g in now["goals"] if g["objective_id"] == "P1.G1.O1")
    assert depression["status"] == "met"


async def test_a_step_down_is_judged_on_what_is_known_now(north: Site) -> None:
    """Evaluating as of a past day would hide risk signals recorded since: refused."""
    api = north.api
    patient_id = await admit(api)
    await drafted_plan(api, patient_id)
    order = {"clinician_id": "clin-7", "follow_up_within_days": 7,
             "aftercare": ["weekly_outpatient_therapy"],
             "override_reason": "moving abroad; outpatient therapist arranged there"}
    today = site_today()
    as_of_past = await api.post("plans", f"/v1/patients/{patient_id}/step-down", json={
        **order, "effective_on": today.isoformat(),
        "as_of": (today - timedelta(days=2)).isoformat()})
    assert as_of_past.status_code == 422, as_of_past.text
    assert [e["pointer"] for e in as_of_past.json()["errors"]] == ["#/as_of"]
    backdated = await api.post("plans", f"/v1/patients/{patient_id}/step-down", json={
        **order, "effective_on": (today - timedelta(days=2)).isoformat()})
    assert backdated.status_code == 422, backdated.text
    assert [e["pointer"] for e in backdated.json()["errors"]] == ["#/backdate_reason"]
    still_open = (await api.get("plans", f"/v1/patients/{patient_id}")).json()
    assert still_open["plan_status"] == "active"


async def suggestions_once(api: Api, patient_id: str, count: int) -> list[dict[str, Any]]:
    async def arrived() -> bool:
        return len((await api.get("plans", f"/v1/patients/{patient_id}/plan/suggestions"))
                   .json()) >= count

    await eventually(arrived, timeout=20)
    found: list[dict[str, Any]] = (await api.get(
        "plans", f"/v1/patients/{patient_id}/plan/suggestions")).json()
    return found


async def test_consent_is_not_an_indication_family_therapy_is_the_clinicians_decision(
        north: Site) -> None:
    api = north.api
    patient_id = await admit(api)
    await drafted_plan(api, patient_id)
    partner = await link_support_person(api, patient_id, "partner")
    parent = await link_support_person(api, patient_id, "parent")
    await grant_consent(api, patient_id, partner, "schedule")
    participation = await grant_consent(api, patient_id, parent, "family_participation")

    # Family's topic is ordered per patient: once the second consent is followed, so is the
    # schedule-only one, and it left the plan unchanged.
    [suggestion] = await suggestions_once(api, patient_id, 1)
    assert (suggestion["consent_id"], suggestion["status"]) == (participation, "open")
    plan = await api.get("plans", f"/v1/patients/{patient_id}/plan")
    assert plan.headers["etag"] == '"1"'
    assert "family_therapy" not in {i["modality"] for i in plan.json()["interventions"]}

    accepted = await api.post(
        "plans", f"/v1/patients/{patient_id}/plan/suggestions/{suggestion['suggestion_id']}"
        "/accept", json={"clinician_id": "clin-7", "reason": "family conflict at home"})
    assert accepted.status_code == 201, accepted.text
    assert accepted.headers["etag"] == '"2"'
    assert "family_therapy" in {i["modality"] for i in accepted.json()["interventions"]}
    [decided] = (await api.get("plans", f"/v1/patients/{patient_id}/plan/suggestions")).json()
    assert (decided["status"], decided["clinician_id"], decided["reason"]) == (
        "accepted", "clin-7", "family conflict at home")
    history = (await api.get("plans", f"/v1/patients/{patient_id}/plan/revisions")).json()
    assert [(r["revision"], r["reason"], r["note"]) for r in history] == [
        (1, None, None), (2, "clinical_judgement", "family conflict at home")]

    # Losing the consent removes family participation at once.
    await revoke_consent(api, patient_id, parent, participation)

    async def withdrawn() -> bool:
        now = await api.get("plans", f"/v1/patients/{patient_id}/plan")
        return now.headers["etag"] == '"3"'

    await eventually(withdrawn, timeout=20)
    final = (await api.get("plans", f"/v1/patients/{patient_id}/plan")).json()
    assert "family_therapy" not in {i["modality"] for i in final["interventions"]}


NO_ANSWERS = dict.fromkeys(("wish_to_be_dead", "suicidal_thoughts", "method", "intent", "plan",
                            "behavior"), False)


async def test_a_cssrs_in_the_program_leads_to_a_step_up_evaluation(north: Site) -> None:
    api = north.api
    patient_id = await admit(api, gad7=MILD_ANXIETY_OVER_10)
    await drafted_plan(api, patient_id)
    today = site_today().isoformat()
    outcomes = f"/v1/patients/{patient_id}/outcomes"

    async def enrolled() -> bool:
        return (await api.get("sessions", f"/v1/patients/{patient_id}")).status_code == 200

    await eventually(enrolled, timeout=20)
    phq9 = await api.post("sessions", outcomes, json={
        "instrument": "phq9", "items": [2, 2, 2, 1, 1, 1, 1, 1, 1], "measured_on": today})
    assert phq9.status_code == 201, phq9.text
    assert phq9.json()["risk_signals"] == ["phq9_item9"]
    due = (await api.get("sessions", outcomes)).json()["cssrs_due"]
    assert due == [{"due_on": today, "phq9_measure_id": phq9.json()["measure_id"]}]

    cssrs = await api.post("sessions", outcomes, json={
        "instrument": "cssrs", "answers": {**NO_ANSWERS, "suicidal_thoughts": True,
                                           "plan": True}, "measured_on": today})
    assert cssrs.status_code == 201, cssrs.text
    assert (cssrs.json()["band"], cssrs.json()["risk_signals"]) == ("high", ["cssrs_high"])
    assert (await api.get("sessions", outcomes)).json()["cssrs_due"] == []
    gad7 = await api.post("sessions", outcomes, json={
        "instrument": "gad7", "items": [1, 1, 1, 1, 1, 1, 2], "measured_on": today})
    assert (gad7.status_code, gad7.json()["band"]) == (201, "mild")

    async def evaluated() -> dict[str, Any] | None:
        answer = await api.get("plans", f"/v1/patients/{patient_id}/step-down-evaluation")
        body: dict[str, Any] = answer.json()
        return body if body["step_up"]["indicated"] else None

    evaluation = await wait_for(evaluated, lambda body: body is not None)
    assert "high_suicide_risk" in {r["code"] for r in evaluation["step_up"]["reasons"]}
    assert "no_risk_signals" in evaluation["unmet"]

    # The GAD-7 is its own event, projected after the C-SSRS that indicated the step-up.
    async def anxiety_statuses() -> list[str]:
        progress = (await api.get("plans", f"/v1/patients/{patient_id}/progress")).json()
        return [g["status"] for g in progress["goals"] if g["problem_code"] == "anxiety"]

    statuses = await wait_for(anxiety_statuses, lambda seen: seen != ["not_met"])
    assert statuses == ["met"]  # GAD-7 8, measured in the program


async def test_every_exit_is_summarized_and_leaving_against_advice_is_urgent(
        north: Site) -> None:
    api = north.api
    patient_id = await admit(api)
    await drafted_plan(api, patient_id)
    too_late = await api.post("plans", f"/v1/patients/{patient_id}/discharge", json={
        "outcome": "left_against_advice", "effective_on": site_today().isoformat(),
        "clinician_id": "clin-7", "follow_up_within_days": 31})
    assert too_late.status_code == 422, too_late.text
    assert [e["pointer"] for e in too_late.json()["errors"]] == ["#/follow_up_within_days"]
    left = await api.post("plans", f"/v1/patients/{patient_id}/discharge", json={
        "outcome": "left_against_advice", "effective_on": site_today().isoformat(),
        "clinician_id": "clin-7"})
    assert left.status_code == 201, left.text
    summary = left.json()["summary"]
    assert (summary["exit"], summary["urgent_alert"], summary["follow_up_within_days"],
            summary["safety_plan"], summary["first_phq9"]) == (
        "discharged", True, 7, "not_recorded", None)
    assert summary["safety_plan_reviewed_since_risk"] is None  # no risk found: none called for
    episode = (await api.get("plans", f"/v1/patients/{patient_id}")).json()
    assert episode["transition"]["summary"]["urgent_alert"] is True


async def risk_found_in_the_program(api: Api) -> str:
    """A patient admitted without risk, then a PHQ-9 with item 9 above 0 in the program;
    the patient id, once plans knows of the finding."""
    patient_id = await admit(api)
    await drafted_plan(api, patient_id)

    async def enrolled() -> bool:
        return (await api.get("sessions", f"/v1/patients/{patient_id}")).status_code == 200

    await eventually(enrolled, timeout=20)
    phq9 = await api.post("sessions", f"/v1/patients/{patient_id}/outcomes", json={
        "instrument": "phq9", "items": [1, 1, 1, 1, 1, 1, 1, 1, 1],
        "measured_on": site_today().isoformat()})
    assert (phq9.status_code, phq9.json()["risk_signals"]) == (201, ["phq9_item9"]), phq9.text
    await safety_plan_state(api, patient_id, lambda plan: plan["required"])
    return patient_id


async def safety_plan_state(api: Api, patient_id: str, holds: Any) -> dict[str, Any]:
    """The step-down evaluation's safety plan, once ``holds`` of it."""
    async def read() -> dict[str, Any]:
        evaluation = await api.get("plans", f"/v1/patients/{patient_id}/step-down-evaluation")
        assert evaluation.status_code == 200, evaluation.text
        found: dict[str, Any] = evaluation.json()["safety_plan"]
        return found

    found: dict[str, Any] = await wait_for(read, holds)
    return found


async def test_after_a_risk_finding_a_completed_discharge_waits_for_the_safety_plan(
        north: Site) -> None:
    api = north.api
    patient_id = await risk_found_in_the_program(api)
    discharge = {"outcome": "completed", "effective_on": site_today().isoformat(),
                 "clinician_id": "clin-7"}
    refused = await api.post("plans", f"/v1/patients/{patient_id}/discharge", json=discharge)
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["type"].endswith("/safety-plan-required")
    assert refused.headers["content-type"] == "application/problem+json"
    assert (problem["safety_plan"]["status"], problem["safety_plan"]["last_risk_finding_on"],
            problem["safety_plan"]["allows_step_down_or_discharge"]) == (
        "not_recorded", site_today().isoformat(), False)

    await safety_plan(api, patient_id)  # at intake, after the admission: SafetyPlanRecorded
    ready = await safety_plan_state(api, patient_id,
                                    lambda plan: plan["allows_step_down_or_discharge"])
    assert (ready["status"], ready["reviewed_since_last_finding"]) == ("recorded", True)
    done = await api.post("plans", f"/v1/patients/{patient_id}/discharge", json=discharge)
    assert done.status_code == 201, done.text
    summary = done.json()["summary"]
    assert (summary["safety_plan"], summary["safety_plan_reviewed_since_risk"],
            summary["risk_signals"]) == ("recorded", True, ["phq9_item9"])


async def test_leaving_against_advice_never_waits_for_the_safety_plan(north: Site) -> None:
    api = north.api
    patient_id = await risk_found_in_the_program(api)
    left = await api.post("plans", f"/v1/patients/{patient_id}/discharge", json={
        "outcome": "left_against_advice", "effective_on": site_today().isoformat(),
        "clinician_id": "clin-7"})
    assert left.status_code == 201, left.text
    summary = left.json()["summary"]
    assert (summary["safety_plan"], summary["safety_plan_reviewed_since_risk"],
            summary["urgent_alert"]) == ("not_recorded", False, True)
