"""The care pathway's acceptance test (issue 3, "Done when"), through the public APIs only.

One patient from referral to ``SteppedDown``: assessments, admission eight weeks
ago, the drafted plan, the schedule, eight weeks of attendance with an improving
weekly PHQ-9, a plan revision under If-Match, the step-down with its aftercare,
the remaining sessions cancelled, a support person told only what consent
allows, the aftercare email received by the SMTP server and a signed webhook
received by the site's endpoint. Then a high-risk referral declined with an
urgent alert, and a patient stepped up mid-program. Last, the services' logs
hold none of these patients' identifying data.

Every wait is ``eventually`` on what a service learned through Kafka; ``-s``
prints each path's timeline.
"""

from __future__ import annotations

import asyncio
import random
import string
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from iopctl.stack import Stack
from tests.conftest import eventually
from tests.e2e.client import Api
from tests.e2e.journeys import (
    HIGH_RISK,
    NO_QUIET_HOURS,
    NO_RISK,
    admission,
    attend_before,
    decline,
    drafted_plan,
    enrollment,
    grant_consent,
    link_support_person,
    messages,
    onboard_site,
    phq9_items,
    progress,
    recommendation,
    refer,
    revise_plan,
    revoke_consent,
    screen,
    sessions_of,
    set_channels,
    set_contact,
    set_support_person_contact,
    set_up_program,
    shared_view,
    step_down,
    step_down_evaluation,
    step_up,
    wait_for,
    wait_plan_status,
    wait_scheduled,
    weekly_phq9,
)
from tests.e2e.receivers import MailCatcher, WebhookReceiver
from tests.fixtures.dates import site_today

pytestmark = pytest.mark.e2e

SECRET = "journey-webhook-secret-0123456789"
PROGRAM = "journey-iop"
TIME_ZONE = "America/Chicago"
#: Today where the site is: sessions are dated, and step-down evaluated, in its time zone.
#: Identifying data of every patient (and support person) this module refers.
IDENTITIES: list[str] = []


class Timeline:
    """Elapsed seconds per phase of one path, printed as it goes (``pytest -s``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.started = self.last = time.perf_counter()
        print(f"\n[{path}]", flush=True)

    def phase(self, name: str) -> None:
        now = time.perf_counter()
        print(f"  {now - self.started:6.2f}s  (+{now - self.last:5.2f}s)  {name}", flush=True)
        self.last = now


@dataclass
class JourneySite:
    site_id: str
    api: Api
    alert_email: str
    hooks: WebhookReceiver


def someone() -> dict[str, Any]:
    """A patient nobody else is: a unique name and birth date, to look for in the logs."""
    letters = random.Random(uuid.uuid4().int)

    def name() -> str:
        return "".join(letters.choice(string.ascii_lowercase) for _ in range(10)).capitalize()

    patient = {"given_name": name(), "family_name": name(),
               "birth_date": date(1950 + letters.randrange(45), letters.randrange(1, 13),
                                  letters.randrange(1, 29)).isoformat()}
    IDENTITIES.extend(patient.values())
    return patient


def email_for(who: str) -> str:
    address = f"{who}-{uuid.uuid4().hex[:10]}@journey.example.org"
    IDENTITIES.append(address)
    return address


@pytest.fixture(scope="module")
def hooks() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(SECRET).start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
async def site(operator: Api, hooks: WebhookReceiver) -> JourneySite:
    """A site of the test's own: no quiet hours, the network's step-down criteria,
    channels to the test's webhook receiver and a clinician alert address, and a
    program with four groups Monday to Thursday, all before any admission."""
    started = time.perf_counter()
    site_id = f"site-journey-{uuid.uuid4().hex[:6]}"
    api = await onboard_site(operator, site_id, name="Journey Clinic",
                             time_zone=TIME_ZONE,
                             policies={**NO_QUIET_HOURS, "step_down_min_weeks": 6})
    alert_email = f"alerts@{site_id}.example.org"
    channels = await set_channels(api, site_id, clinician_alert_email=alert_email,
                                  webhook_url=hooks.url, webhook_secret=SECRET)
    assert channels["webhook_secret_set"] is True
    groups = await set_up_program(api, PROGRAM, name="Adult IOP (journey)")
    assert len(groups) == 4
    print(f"\n[site] {site_id} onboarded, key known everywhere, channels and program "
          f"in {time.perf_counter() - started:.2f}s", flush=True)
    return JourneySite(site_id, api, alert_email, hooks)


def webhooks_of(hooks: WebhookReceiver, patient_id: str, kind: str) -> list[dict[str, Any]]:
    return [p for p in hooks.payloads() if p.get("patient_id") == patient_id
            and p.get("kind") == kind]


async def test_a_patient_from_referral_to_stepped_down(site: JourneySite, mail: MailCatcher
                                                       ) -> None:
    today = site_today(TIME_ZONE)  # read when the test runs, not at import
    api, t = site.api, Timeline("referral → stepped down")

    # Intake: referral, assessments, the recommendation, the admission eight weeks ago.
    patient_id = await refer(api, "provider", patient=someone(),
                             referred_on=(today - timedelta(weeks=9)).isoformat())
    patient_email = email_for("patient")
    await set_contact(api, patient_id, patient_email)
    scored = await screen(api, patient_id, phq9=phq9_items(20), cssrs=NO_RISK,
                          gad7=[1, 1, 1, 1, 1, 1, 0])
    assert (scored["phq9"]["total"], scored["phq9"]["band"]) == (20, "severe")
    advice = await recommendation(api, patient_id)
    assert (advice["level"], advice["urgent_alert"]) == ("iop", False), advice
    start = today - timedelta(weeks=8)
    admitted = await admission(api, patient_id, program_id=PROGRAM, start_date=start,
                               days_per_week=4, planned_weeks=10)
    assert admitted["status"] == "admitted"
    t.phase("referred, screened (PHQ-9 20 severe, C-SSRS none), recommended iop, admitted")

    # Plans drafted a plan; sessions enrolled the patient in four groups a week.
    plan, etag = await drafted_plan(api, patient_id)
    assert (etag, plan["status"], plan["revision"]) == ('"1"', "active", 1)
    assert plan["problems"][0]["code"] == "depression"
    schedule = await wait_scheduled(api, patient_id)
    groups = [s for s in schedule if s["kind"] == "group"]
    assert len(groups) == 4 * 10
    assert len({s["group_id"] for s in groups}) == 4
    assert {s["status"] for s in schedule} == {"scheduled"}
    t.phase(f"plan drafted (ETag {etag}); {len(schedule)} sessions scheduled")

    # Family: a support person with consent to see the schedule only.
    person = await link_support_person(api, patient_id, given_name=someone()["given_name"])
    person_email = email_for("family")
    await set_support_person_contact(api, patient_id, person, person_email)
    consent_id = await grant_consent(api, patient_id, person, "schedule")
    view = await wait_for(lambda: shared_view(api, patient_id, person),
                          lambda v: v["shared"] and v["shared"][0]["upcoming_sessions"])
    assert view["scopes"] == ["schedule"]
    assert [s["scope"] for s in view["shared"]] == ["schedule"]
    # Consent to disclose is not an indication: the plan stays as drafted (tests/e2e/
    # test_plans.py proves it against a participation consent plans did follow).
    t.phase("support person linked, consent: schedule only")

    # Eight weeks of attendance (a few late, one absence) and a weekly PHQ-9.
    def mostly_attended(n: int) -> tuple[str, int]:
        if n == 17:
            return "absent", 0
        return ("late", 10) if n % 9 == 4 else ("attended", 0)

    past = await attend_before(api, patient_id, schedule, today, mostly_attended)
    assert len(past) == 8 * 5  # four groups and one individual session a week
    trajectory = [18, 16, 14, 12, 9, 7, 6, 5]
    measured = await weekly_phq9(api, patient_id, start, trajectory)
    assert [(m["program_week"], m["risk_signals"]) for m in measured] == [
        (week, []) for week in range(1, 9)]
    t.phase(f"attendance for {len(past)} sessions, PHQ-9 20 → {' → '.join(map(str, trajectory))}")

    caught_up = await wait_for(
        lambda: progress(api, patient_id, today),
        lambda p: p["attendance"]["attended"] == len(past) - 1
        and len(p["phq9"]["trajectory"]) == len(trajectory), timeout=30)
    assert caught_up["attendance"]["late"] == sum(1 for n in range(len(past))
                                                  if n % 9 == 4 and n != 17)
    assert caught_up["attendance"]["missed_unexcused"] == 1
    assert caught_up["phq9"]["baseline"] == 20
    assert [p["total"] for p in caught_up["phq9"]["trajectory"]] == trajectory
    assert caught_up["phq9"]["response"] is True
    assert caught_up["risk_signals"] == []
    assert caught_up["step_up"]["indicated"] is False
    t.phase("plans' progress caught up with sessions' events")

    # A plan revision under If-Match: fewer group days now that the patient improves.
    group_therapy = next(i for i in plan["interventions"] if i["modality"] == "group_therapy")
    stale = await api.post("plans", f"/v1/patients/{patient_id}/plan/revisions",
                           headers={"If-Match": '"0"'}, json={"reason": "progress", "changes": [
                               {"change": "change_frequency",
                                "intervention_id": group_therapy["intervention_id"],
                                "sessions_per_week": 3}]})
    assert stale.status_code == 412, stale.text
    revised, etag = await revise_plan(api, patient_id, etag, [
        {"change": "change_frequency", "intervention_id": group_therapy["intervention_id"],
         "sessions_per_week": 3}], reason="progress", note="steady improvement")
    assert (revised["revision"], etag) == (2, '"2"')
    history = (await api.get("plans", f"/v1/patients/{patient_id}/plan/revisions")).json()
    assert [(r["revision"], r["reason"]) for r in history] == [(1, None), (2, "progress")]
    t.phase("plan revised under If-Match (revision 2, reason progress)")

    # Step-down: eligible today, confirmed with an aftercare plan.
    evaluation = await step_down_evaluation(api, patient_id, today)
    assert evaluation["eligible"] is True, evaluation
    assert evaluation["unmet"] == []
    aftercare = ["relapse_prevention_plan", "weekly_outpatient_therapy", "crisis_line"]
    stepped = await step_down(api, patient_id, effective_on=today, aftercare=aftercare)
    assert (stepped["kind"], stepped["to_level"], stepped["plan_status"]) == (
        "stepped_down", "standard_outpatient", "stepped_down")
    episode = await wait_plan_status(api, patient_id, "stepped_down")
    assert episode["transition"]["aftercare"] == aftercare
    t.phase("step-down evaluation eligible; SteppedDown")

    # Sessions: every session after today cancelled, the enrollment ended.
    async def program_ended() -> bool:
        now = await enrollment(api, patient_id)
        return now is not None and now["status"] == "ended"

    await eventually(program_ended, timeout=20)
    after = await sessions_of(api, patient_id)
    later = [s for s in after if date.fromisoformat(s["local_date"]) > today]
    assert later and {s["status"] for s in later} == {"cancelled"}
    held = [s for s in after if date.fromisoformat(s["local_date"]) < today]
    assert {s["status"] for s in held} == {"attended", "late", "absent"}
    ended = await enrollment(api, patient_id)
    assert ended is not None
    assert (ended["ended_on"], ended["end_reason"]) == (today.isoformat(), "SteppedDown")
    t.phase(f"sessions: {len(later)} remaining sessions cancelled, enrollment ended")

    # Notifications: the aftercare email over SMTP and the signed webhook.
    async def aftercare_delivered() -> bool:
        return (len(mail.to(patient_email, "aftercare_summary")) == 1
                and bool(webhooks_of(site.hooks, patient_id, "aftercare_summary")))

    await eventually(aftercare_delivered, timeout=30)
    [email] = mail.to(patient_email, "aftercare_summary")
    assert email["X-Iopnet-Kind"] == "aftercare_summary"
    [payload] = webhooks_of(site.hooks, patient_id, "aftercare_summary")
    assert (payload["type"], payload["site_id"]) == ("iopnet.SteppedDown", site.site_id)
    assert site.hooks.rejected == []
    assert len(mail.to(patient_email, "welcome")) == 1
    t.phase("aftercare email received over SMTP; signed webhook verified")

    # Family: told only what consent allows: the schedule, never progress.
    sent = await messages(api, patient_id)
    kinds = {m["kind"] for m in sent}
    assert {"welcome", "aftercare_summary"} <= kinds
    assert "family_progress_update" not in kinds
    assert mail.to(person_email, "family_progress_update") == []
    # What the support person sees of the schedule follows the cancellation: only what is
    # still ahead today, the step-down's effective date.
    still_ahead = {datetime.fromisoformat(s["starts_at"]) for s in after
                   if s["status"] == "scheduled"
                   and datetime.fromisoformat(s["starts_at"]) > datetime.now(UTC)}
    view = await wait_for(lambda: shared_view(api, patient_id, person),
                          lambda v: {datetime.fromisoformat(s["starts_at"])
                                     for s in v["shared"][0]["upcoming_sessions"]}
                          <= still_ahead)
    assert [s["scope"] for s in view["shared"]] == ["schedule"]
    assert "progress" not in str(view)
    await revoke_consent(api, patient_id, person, consent_id)
    view = await shared_view(api, patient_id, person)
    assert (view["scopes"], view["shared"]) == ([], [])
    t.phase("family: schedule only, no progress update; nothing after revocation")


async def test_a_high_risk_referral_is_declined_with_an_urgent_alert(
    site: JourneySite, mail: MailCatcher
) -> None:
    today = site_today(TIME_ZONE)  # read when the test runs, not at import
    api, t = site.api, Timeline("high-risk referral → declined, urgent alert")
    patient_id = await refer(api, "self", patient=someone())
    await set_contact(api, patient_id, email_for("patient"))
    scored = await screen(api, patient_id, phq9=phq9_items(22, item9=2), cssrs=HIGH_RISK)
    assert scored["cssrs"]["band"] == "high", scored["cssrs"]
    advice = await recommendation(api, patient_id)
    assert (advice["level"], advice["urgent_alert"]) == ("inpatient", True), advice
    refused = await api.post("intake", f"/v1/patients/{patient_id}/admission", json={
        "program_id": PROGRAM, "start_date": today.isoformat(), "days_per_week": 4,
        "planned_weeks": 10, "clinician_id": "clin-7"})
    assert refused.status_code == 409, refused.text
    declined = await decline(api, patient_id)
    assert declined["status"] == "declined"
    t.phase("referred, C-SSRS high, recommended inpatient, IOP refused, declined")

    def declined_webhooks() -> list[dict[str, Any]]:
        return [p for p in webhooks_of(site.hooks, patient_id, "urgent_alert")
                if p["type"] == "iopnet.AdmissionDeclined"]

    async def alerted() -> bool:
        urgent = [m for m in await messages(api, patient_id) if m["kind"] == "urgent_alert"
                  and m["cause_type"] == "iopnet.AdmissionDeclined"]
        return (bool(declined_webhooks()) and len(urgent) == 2
                and all(m["status"] == "sent" for m in urgent))

    await eventually(alerted, timeout=30)
    [payload] = declined_webhooks()
    assert (payload["recommended_level"], payload["site_id"]) == ("inpatient", site.site_id)
    assert site.hooks.rejected == []
    emails = [m for m in mail.to(site.alert_email, "urgent_alert")
              if patient_id in MailCatcher.subject(m)]
    assert emails, "the clinician alert email"
    causes = sorted({p["type"] for p in webhooks_of(site.hooks, patient_id, "urgent_alert")})
    t.phase(f"urgent alert: {len(emails)} clinician email(s) over SMTP, signed webhooks "
            f"({', '.join(causes)})")


async def test_a_patient_worsening_mid_program_is_stepped_up(site: JourneySite) -> None:
    today = site_today(TIME_ZONE)  # read when the test runs, not at import
    api, t = site.api, Timeline("worsening mid-program → stepped up")
    patient_id = await refer(api, "provider", patient=someone(),
                             referred_on=(today - timedelta(weeks=4)).isoformat())
    await screen(api, patient_id, phq9=phq9_items(15), cssrs=NO_RISK)
    assert (await recommendation(api, patient_id))["level"] == "iop"
    start = today - timedelta(weeks=3)
    await admission(api, patient_id, program_id=PROGRAM, start_date=start, days_per_week=3,
                    planned_weeks=8)
    schedule = await wait_scheduled(api, patient_id)
    await drafted_plan(api, patient_id)
    t.phase(f"admitted three weeks ago (PHQ-9 15); {len(schedule)} sessions scheduled")

    await attend_before(api, patient_id, schedule, today)
    measured = await weekly_phq9(api, patient_id, start, [14, 16, 21], day_of_week=2)
    assert [m["risk_signals"] for m in measured] == [[], [], ["phq9_marked_rise"]]
    t.phase("three weeks attended; PHQ-9 15 → 14 → 16 → 21 (RiskSignalRaised)")

    now = await wait_for(lambda: progress(api, patient_id, today),
                         lambda p: p["step_up"]["indicated"] and p["risk_signals"],
                         timeout=30)
    assert {r["code"] for r in now["step_up"]["reasons"]} >= {"rise_above_baseline"}
    assert [s["signal"] for s in now["risk_signals"]] == ["phq9_marked_rise"]
    evaluation = await step_down_evaluation(api, patient_id, today)
    assert evaluation["eligible"] is False
    t.phase("plans' progress: step-up indicated (rise above baseline)")

    stepped = await step_up(api, patient_id, to_level="partial_hospitalization",
                            reason_codes=["rise_above_baseline", "clinical_deterioration"],
                            effective_on=today)
    assert (stepped["kind"], stepped["to_level"], stepped["plan_status"]) == (
        "stepped_up", "partial_hospitalization", "stepped_up")
    await wait_plan_status(api, patient_id, "stepped_up")

    async def remaining_cancelled() -> bool:
        now = await enrollment(api, patient_id)
        later = [s for s in await sessions_of(api, patient_id)
                 if date.fromisoformat(s["local_date"]) > today]
        return (now is not None and now["status"] == "ended" and bool(later)
                and all(s["status"] == "cancelled" for s in later))

    await eventually(remaining_cancelled, timeout=20)
    t.phase("SteppedUp to partial hospitalization; remaining sessions cancelled")


async def test_the_logs_hold_no_identifying_data(site: JourneySite, mail: MailCatcher,
                                                 stack: Stack) -> None:
    """Names, birth dates and emails of this module's patients appear in no service log:
    at least one patient of the test's own, admitted and welcomed by email, whatever ran
    before it."""
    today = site_today(TIME_ZONE)  # read when the test runs, not at import
    api = site.api
    patient_id = await refer(api, "self", patient=someone())
    address = email_for("patient")
    await set_contact(api, patient_id, address)
    await screen(api, patient_id, phq9=phq9_items(18), cssrs=NO_RISK)
    await admission(api, patient_id, program_id=PROGRAM, start_date=today)
    await eventually(lambda: asyncio.sleep(0, bool(mail.to(address, "welcome"))), timeout=30)
    logs = sorted(stack.log_dir.glob("*.log"))
    assert logs, stack.log_dir
    leaks = [(log.name, value) for log in logs
             for value in IDENTITIES if value in log.read_text(errors="replace")]
    assert leaks == []
