"""Steps of a patient's path through the public APIs, shared by the end-to-end tests
and by ``make demo``.

Every step is one or a few public API calls; the ``wait_*`` steps poll (with
``tests.conftest.eventually``) until a service has learned, through events, what
another service decided.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

from iopnet.topics import SERVICES
from tests.conftest import eventually
from tests.e2e.client import Api
from tests.fixtures.dates import SITE_TIME_ZONE, site_today

NO_RISK = {"wish_to_be_dead": False, "suicidal_thoughts": False, "method": False,
           "intent": False, "plan": False, "behavior": False}
HIGH_RISK = {**NO_RISK, "wish_to_be_dead": True, "suicidal_thoughts": True, "plan": True}
MODERATELY_SEVERE = [2] * 9  # PHQ-9 18, item 9 = 2
SEVERE_NO_ITEM9 = [3, 3, 3, 3, 2, 2, 2, 2, 0]  # PHQ-9 20, item 9 = 0
NO_QUIET_HOURS = {"quiet_hours_start": "00:00:00", "quiet_hours_end": "00:00:00"}
ADA = {"given_name": "Ada", "family_name": "Example", "birth_date": "1990-04-02"}
#: A Stanley-Brown safety plan, every step filled in.
SAFETY_PLAN = {
    "warning_signs": ["lying awake going over the same thoughts"],
    "coping_strategies": ["a walk around the block", "breathing exercise"],
    "distractions": ["coffee with a neighbour", "the library"],
    "people_to_ask_for_help": ["sister"],
    "professionals_and_agencies": ["the clinic's on-call clinician"],
    "making_the_environment_safe": ["medicines kept by partner"],
}
#: Four weekly groups, Monday to Thursday, so 3-4 days a week can be scheduled.
WEEKLY_GROUPS = [("mon", "group_therapy", 0), ("tue", "psychoeducation", 1),
                 ("wed", "cbt", 2), ("thu", "mindfulness", 3)]


def phq9_items(total: int, item9: int = 0) -> list[int]:
    """Nine PHQ-9 item scores (0-3) adding up to ``total``, item 9 as given."""
    rest = total - item9
    if not 0 <= item9 <= 3 or not 0 <= rest <= 24:
        raise ValueError(f"no PHQ-9 totals {total} with item 9 = {item9}")
    items = [rest // 8 + (1 if n < rest % 8 else 0) for n in range(8)]
    return [*items, item9]


def ok(answer: Any, *statuses: int) -> Any:
    """The answer's JSON body, after checking its status (201 unless told)."""
    assert answer.status_code in (statuses or (201,)), (
        f"{answer.request.method} {answer.request.url} → {answer.status_code} {answer.text}")
    return answer.json() if answer.content else None


# --- Network and site setup ----------------------------------------------------------------


async def known_everywhere(api: Api, timeout: float = 15) -> None:
    """Wait until every service accepts the key (each learns keys from events)."""

    async def accepted() -> bool:
        answers = [await api.get(s, f"/v1/patients/{uuid.uuid4()}") for s in SERVICES]
        return all(a.status_code == 404 for a in answers)

    await eventually(accepted, timeout=timeout)


async def onboard_site(operator: Api, site_id: str, *, name: str | None = None,
                       time_zone: str = SITE_TIME_ZONE,
                       policies: dict[str, Any] | None = None) -> Api:
    """Onboard a site with its policies (already onboarded is fine), issue it an
    all-scopes key and wait until every service knows the key."""
    answer = await operator.post("intake", "/v1/network/sites", json={
        "site_id": site_id, "name": name or f"Clinic {site_id}", "time_zone": time_zone,
        "policies": policies or NO_QUIET_HOURS})
    ok(answer, 201, 409)
    if answer.status_code == 409 and policies is not None:  # onboarded before: these policies
        ok(await operator.put("intake", f"/v1/network/sites/{site_id}/policies",
                              json=policies), 200)
    api = operator.with_key((await operator.issue_key(site_id))["api_key"])
    await known_everywhere(api)
    return api


async def set_up_program(api: Api, program_id: str, *, name: str | None = None,
                         groups: list[tuple[str, str, int]] | None = None,
                         start_time: str = "09:00", capacity: int = 12,
                         clinician_id: str = "clin-g") -> list[str]:
    """A program and its weekly groups (identical ones again answer 200); the group ids."""
    ok(await api.post("sessions", "/v1/programs",
                      json={"program_id": program_id, "name": name or program_id}), 200, 201)
    made = []
    for suffix, modality, weekday in groups or WEEKLY_GROUPS:
        group_id = f"{program_id}-{suffix}"
        ok(await api.post("sessions", f"/v1/programs/{program_id}/groups", json={
            "group_id": group_id, "modality": modality, "clinician_id": clinician_id,
            "weekday": weekday, "start_time": start_time, "capacity": capacity}), 200, 201)
        made.append(group_id)
    return made


async def set_channels(api: Api, site_id: str, *, clinician_alert_email: str,
                       webhook_url: str | None = None, webhook_secret: str | None = None
                       ) -> dict[str, Any]:
    body: dict[str, Any] = {"clinician_alert_email": clinician_alert_email}
    if webhook_url:
        body |= {"webhook_url": webhook_url, "webhook_secret": webhook_secret}
    channels: dict[str, Any] = ok(await api.put("notifications", f"/v1/sites/{site_id}/channels",
                                                json=body), 200)
    return channels


async def set_contact(api: Api, patient_id: str, email: str, timeout: float = 20) -> None:
    """The patient's email, once notifications knows the patient (from PatientReferred)."""

    async def accepted() -> bool:
        answer = await api.put("notifications", f"/v1/patients/{patient_id}/contact",
                               json={"email": email})
        assert answer.status_code in (200, 404), answer.text
        return answer.status_code == 200

    await eventually(accepted, timeout=timeout)


# --- Intake ----------------------------------------------------------------------------------


async def refer(api: Api, source: str = "provider", **extra: Any) -> str:
    """Refer a patient (``patient=...`` names someone other than Ada); the patient id."""
    answer = await api.post("intake", "/v1/referrals", json={
        "source": source, "patient": ADA, **extra,
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


async def screen(api: Api, patient_id: str, *, phq9: list[int],
                 cssrs: dict[str, bool] | None = None, gad7: list[int] | None = None
                 ) -> dict[str, dict[str, Any]]:
    """The intake assessments; each one's scored result by instrument."""
    found = {"phq9": await assess(api, patient_id, "phq9", items=phq9),
             "cssrs": await assess(api, patient_id, "cssrs", answers=cssrs or NO_RISK)}
    if gad7 is not None:
        found["gad7"] = await assess(api, patient_id, "gad7", items=gad7)
    return found


async def safety_plan(api: Api, patient_id: str, clinician_id: str = "clin-7"
                      ) -> dict[str, Any]:
    """Record the patient's safety plan (SafetyPlanRecorded; a second one: reviewed)."""
    written: dict[str, Any] = ok(await api.post(
        "intake", f"/v1/patients/{patient_id}/safety-plan",
        json={"clinician_id": clinician_id, "plan": SAFETY_PLAN}))
    return written


async def safety_plan_if_required(api: Api, patient_id: str) -> None:
    """Any risk finding needs a safety plan before an admission is completed."""
    if (await recommendation(api, patient_id))["safety_plan_required"]:
        await safety_plan(api, patient_id)


async def recommendation(api: Api, patient_id: str) -> dict[str, Any]:
    found: dict[str, Any] = ok(await api.get(
        "intake", f"/v1/patients/{patient_id}/recommendation"), 200)
    return found


async def admission(api: Api, patient_id: str, *, program_id: str, start_date: date,
                    days_per_week: int = 4, planned_weeks: int = 10,
                    clinician_id: str = "clin-7") -> dict[str, Any]:
    """Admit a referred, assessed patient (PatientAdmitted), with a safety plan if risk
    was found."""
    await safety_plan_if_required(api, patient_id)
    admitted: dict[str, Any] = ok(await api.post(
        "intake", f"/v1/patients/{patient_id}/admission", json={
            "program_id": program_id, "start_date": start_date.isoformat(),
            "days_per_week": days_per_week, "planned_weeks": planned_weeks,
            "clinician_id": clinician_id}))
    return admitted


async def decline(api: Api, patient_id: str, clinician_id: str = "clin-7",
                  **extra: Any) -> dict[str, Any]:
    """Decline IOP (AdmissionDeclined), at the recommended level unless ``level`` says."""
    declined: dict[str, Any] = ok(await api.post(
        "intake", f"/v1/patients/{patient_id}/decline",
        json={"clinician_id": clinician_id, **extra}))
    return declined


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
    if (phq9 or SEVERE_NO_ITEM9)[8] > 0 or any((cssrs or NO_RISK).values()):
        await safety_plan(api, patient_id)  # any risk finding: a safety plan first
    answer = await api.post("intake", f"/v1/patients/{patient_id}/admission", json={
        "program_id": program_id, "start_date": (start_date or site_today()).isoformat(),
        "days_per_week": days_per_week, "planned_weeks": planned_weeks,
        "clinician_id": clinician_id,
    })
    assert answer.status_code == 201, answer.text
    return patient_id


# --- Plans -----------------------------------------------------------------------------------


async def wait_for(read: Callable[[], Awaitable[Any]], holds: Callable[[Any], bool],
                   timeout: float = 20) -> Any:
    """Poll ``read`` until ``holds`` of what it read; what it read last."""
    seen: list[Any] = [None]

    async def check() -> bool:
        seen[0] = await read()
        return bool(holds(seen[0]))

    await eventually(check, timeout=timeout)
    return seen[0]


async def drafted_plan(api: Api, patient_id: str, timeout: float = 20
                       ) -> tuple[dict[str, Any], str]:
    """The plan drafted on admission, once plans has it, with its ETag."""
    answer = await wait_for(lambda: api.get("plans", f"/v1/patients/{patient_id}/plan"),
                            lambda a: a.status_code == 200, timeout)
    return answer.json(), answer.headers["etag"]


async def revise_plan(api: Api, patient_id: str, etag: str, changes: list[dict[str, Any]],
                      reason: str, note: str | None = None) -> tuple[dict[str, Any], str]:
    """A revision under If-Match; the new plan and its ETag."""
    answer = await api.post("plans", f"/v1/patients/{patient_id}/plan/revisions",
                            headers={"If-Match": etag},
                            json={"changes": changes, "reason": reason, "note": note})
    return ok(answer), answer.headers["etag"]


async def progress(api: Api, patient_id: str, as_of: date | None = None) -> dict[str, Any]:
    params = {"as_of": as_of.isoformat()} if as_of else {}
    found: dict[str, Any] = ok(await api.get("plans", f"/v1/patients/{patient_id}/progress",
                                             params=params), 200)
    return found


async def step_down_evaluation(api: Api, patient_id: str, as_of: date | None = None
                               ) -> dict[str, Any]:
    params = {"as_of": as_of.isoformat()} if as_of else {}
    found: dict[str, Any] = ok(await api.get(
        "plans", f"/v1/patients/{patient_id}/step-down-evaluation", params=params), 200)
    return found


async def step_down(api: Api, patient_id: str, *, effective_on: date, aftercare: list[str],
                    follow_up_within_days: int = 7, clinician_id: str = "clin-7"
                    ) -> dict[str, Any]:
    stepped: dict[str, Any] = ok(await api.post(
        "plans", f"/v1/patients/{patient_id}/step-down", json={
            "clinician_id": clinician_id, "effective_on": effective_on.isoformat(),
            "follow_up_within_days": follow_up_within_days, "aftercare": aftercare}))
    return stepped


async def step_up(api: Api, patient_id: str, *, to_level: str, reason_codes: list[str],
                  effective_on: date, clinician_id: str = "clin-7") -> dict[str, Any]:
    stepped: dict[str, Any] = ok(await api.post(
        "plans", f"/v1/patients/{patient_id}/step-up", json={
            "to_level": to_level, "reason_codes": reason_codes,
            "effective_on": effective_on.isoformat(), "clinician_id": clinician_id}))
    return stepped


async def wait_plan_status(api: Api, patient_id: str, status: str, timeout: float = 20
                           ) -> dict[str, Any]:
    answer = await wait_for(lambda: api.get("plans", f"/v1/patients/{patient_id}"),
                            lambda a: a.status_code == 200
                            and a.json()["plan_status"] == status, timeout)
    episode: dict[str, Any] = answer.json()
    return episode


# --- Sessions --------------------------------------------------------------------------------


async def enrollment(api: Api, patient_id: str) -> dict[str, Any] | None:
    answer = await api.get("sessions", f"/v1/patients/{patient_id}")
    return answer.json() if answer.status_code == 200 else None


async def sessions_of(api: Api, patient_id: str) -> list[dict[str, Any]]:
    answer = await api.get("sessions", f"/v1/patients/{patient_id}/sessions")
    found: list[dict[str, Any]] = answer.json() if answer.status_code == 200 else []
    return found


async def wait_scheduled(api: Api, patient_id: str, timeout: float = 20
                         ) -> list[dict[str, Any]]:
    """The schedule the admission got, once sessions has enrolled the patient."""
    await wait_for(lambda: enrollment(api, patient_id),
                   lambda e: e is not None and e["status"] == "scheduled", timeout)
    schedule: list[dict[str, Any]] = await wait_for(lambda: sessions_of(api, patient_id),
                                                    bool, timeout)
    return sorted(schedule, key=lambda s: s["starts_at"])


async def attend(api: Api, patient_id: str, session: dict[str, Any], status: str = "attended",
                 late_minutes: int = 0) -> dict[str, Any]:
    recorded: dict[str, Any] = ok(await api.post(
        "sessions", f"/v1/sessions/{session['session_id']}/attendance",
        json={"patient_id": patient_id, "status": status, "late_minutes": late_minutes}))
    return recorded


def attended(_: int) -> tuple[str, int]:
    """Every session attended, on time (the default for ``attend_before``)."""
    return "attended", 0


async def attend_before(api: Api, patient_id: str, schedule: list[dict[str, Any]], day: date,
                        status_of: Callable[[int], tuple[str, int]] = attended
                        ) -> list[dict[str, Any]]:
    """Attendance for every session of ``schedule`` held before ``day`` (site-local dates):
    ``status_of(n)`` gives the n-th one's status and minutes late. The sessions, in order."""
    held = [s for s in sorted(schedule, key=lambda s: s["starts_at"])
            if s["status"] == "scheduled" and date.fromisoformat(s["local_date"]) < day]
    for n, session in enumerate(held):
        status, late_minutes = status_of(n)
        await attend(api, patient_id, session, status, late_minutes)
    return held


async def weekly_phq9(api: Api, patient_id: str, starts_on: date, totals: list[int],
                      day_of_week: int = 3) -> list[dict[str, Any]]:
    """One PHQ-9 a program week (``day_of_week`` days into it), from week 1; the answers."""
    return [await measure_phq9(api, patient_id, total,
                               starts_on + timedelta(weeks=week, days=day_of_week))
            for week, total in enumerate(totals)]


async def measure_phq9(api: Api, patient_id: str, total: int, measured_on: date,
                       item9: int = 0) -> dict[str, Any]:
    """A weekly PHQ-9 at a session (OutcomeMeasured, and RiskSignalRaised when it calls)."""
    measured: dict[str, Any] = ok(await api.post(
        "sessions", f"/v1/patients/{patient_id}/outcomes", json={
            "instrument": "phq9", "items": phq9_items(total, item9),
            "measured_on": measured_on.isoformat()}))
    return measured


# --- Family ----------------------------------------------------------------------------------


async def link_support_person(api: Api, patient_id: str, relationship: str = "partner",
                              given_name: str = "Grace", family_name: str = "Example",
                              timeout: float = 20) -> str:
    """Link a support person once family knows the patient (from PatientAdmitted)."""
    await wait_for(lambda: api.get("family", f"/v1/patients/{patient_id}"),
                   lambda a: a.status_code == 200, timeout)
    linked = ok(await api.post("family", f"/v1/patients/{patient_id}/support-persons", json={
        "relationship": relationship, "given_name": given_name, "family_name": family_name}))
    return str(linked["support_person_id"])


async def grant_consent(api: Api, patient_id: str, person: str, scope: str) -> str:
    granted = ok(await api.post(
        "family", f"/v1/patients/{patient_id}/support-persons/{person}/consents",
        json={"scope": scope}))
    return str(granted["consent_id"])


async def revoke_consent(api: Api, patient_id: str, person: str, consent_id: str) -> None:
    ok(await api.post("family", f"/v1/patients/{patient_id}/support-persons/{person}/"
                                f"consents/{consent_id}/revoke"), 200)


async def shared_view(api: Api, patient_id: str, person: str) -> dict[str, Any]:
    view: dict[str, Any] = ok(await api.get(
        "family", f"/v1/patients/{patient_id}/support-persons/{person}/shared-view"), 200)
    return view


async def set_support_person_contact(api: Api, patient_id: str, person: str, email: str,
                                     timeout: float = 20) -> None:
    """The support person's email, once notifications knows of them (SupportPersonLinked)."""

    async def accepted() -> bool:
        answer = await api.put("notifications", f"/v1/support-persons/{person}/contact",
                               json={"patient_id": patient_id, "email": email})
        assert answer.status_code in (200, 404), answer.text
        return answer.status_code == 200

    await eventually(accepted, timeout=timeout)


# --- Notifications ---------------------------------------------------------------------------


async def messages(api: Api, patient_id: str) -> list[dict[str, Any]]:
    """What notifications queued or sent for the patient (none until it knows the patient)."""
    answer = await api.get("notifications", f"/v1/patients/{patient_id}")
    if answer.status_code == 404:
        return []
    found: list[dict[str, Any]] = ok(answer, 200)["messages"]
    return found


async def acknowledge_alert(api: Api, patient_id: str, clinician_id: str = "clin-7",
                            note: str | None = None, timeout: float = 20) -> dict[str, Any]:
    """A clinician acknowledges the patient's oldest unacknowledged urgent alert, once
    notifications has raised it; the alert as acknowledged."""
    listed = await wait_for(
        lambda: api.get("notifications", "/v1/alerts", params={"patient_id": patient_id}),
        lambda a: a.status_code == 200 and bool(a.json()["alerts"]), timeout)
    alert_id = listed.json()["alerts"][0]["alert_id"]
    body = {"clinician_id": clinician_id, **({"note": note} if note else {})}
    acknowledged: dict[str, Any] = ok(await api.post(
        "notifications", f"/v1/alerts/{alert_id}/acknowledgement", json=body), 200)
    return acknowledged
