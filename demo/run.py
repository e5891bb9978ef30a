"""``make demo``: two sites and a dozen patients driven through the running system.

Each patient's path is printed line by line as it happens. Every line says which
service answered; ``←`` marks what that service learned from another's events
through Kafka (it never reads another service's database). Time is compressed:
a patient admitted "eight weeks ago" has those weeks of attendance and weekly
PHQ-9 recorded in a second, then care moves on today.

    make up                       # in another terminal, then:
    make demo                     # or: python -m demo.run
    python -m demo.run --start    # standalone: starts (and stops) its own system

Against ``make up`` it reads the operator key from ``IOPNET_OPERATOR_KEY`` or
``.iopnet/operator.key``; it can run again and again (new patients every run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from iopctl.stack import DEFAULT_PORTS, Stack
from iopnet.auth.guard import OPERATOR_KEY_ENV
from iopnet.topics import SERVICES
from tests.conftest import free_port
from tests.e2e import journeys as j
from tests.e2e.client import Api
from tests.e2e.receivers import MailCatcher, WebhookReceiver

WEBHOOK_SECRET = "demo-webhook-secret-0123456789"
AFTERCARE = ["relapse_prevention_plan", "weekly_outpatient_therapy"]
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
GIVEN = ["Ada", "Ben", "Cleo", "Dev", "Esme", "Finn", "Gia", "Hal", "Ines", "Jon", "Kai", "Lea"]


@dataclass(frozen=True)
class DemoSite:
    label: str
    site_id: str
    name: str
    time_zone: str
    program_id: str

    def today(self) -> date:
        return datetime.now(ZoneInfo(self.time_zone)).date()


#: Each run has programs of its own: patients of earlier runs against the same system keep
#: their places in theirs, so a run's groups are never full before it starts.
RUN = uuid.uuid4().hex[:6]
SITES = [
    DemoSite("north", "demo-north", "North Clinic", "America/Chicago", f"north-iop-{RUN}"),
    DemoSite("south", "demo-south", "South Clinic", "Europe/London", f"south-iop-{RUN}"),
]


@dataclass(frozen=True)
class Scenario:
    """One patient's story: intake scores, the program, and how the weeks go."""

    site: str
    path: str  # improving | plateau | worsening | high_risk | mild
    phq9: int
    trajectory: tuple[int, ...] = ()
    gad7: list[int] | None = None
    days_per_week: int = 4
    planned_weeks: int = 10
    weeks_ago: int = 8
    attendance: float = 0.95
    source: str = "provider"
    family: bool = False
    transfer_to: str | None = None


SCENARIOS = [
    Scenario("north", "improving", 20, (18, 16, 14, 12, 9, 7, 7, 6), family=True),
    Scenario("north", "improving", 17, (16, 15, 12, 10, 8, 8), days_per_week=3,
             planned_weeks=8, weeks_ago=6, gad7=[2, 2, 2, 2, 1, 1, 1]),
    Scenario("south", "improving", 23, (21, 18, 15, 12, 11, 9, 8), planned_weeks=12,
             weeks_ago=7, source="inpatient_step_down", family=True),
    Scenario("south", "improving", 16, (15, 13, 11, 9, 8, 6), days_per_week=3,
             weeks_ago=6, attendance=0.85),
    Scenario("north", "improving", 19, (19, 17, 14, 11, 8, 6, 5), weeks_ago=7,
             transfer_to="south"),
    Scenario("south", "improving", 21, (20, 19, 17, 15, 12, 10, 9, 8), days_per_week=3,
             planned_weeks=12, attendance=0.9),
    Scenario("north", "improving", 15, (14, 12, 10, 9, 7, 6), days_per_week=3,
             planned_weeks=8, weeks_ago=6, source="self"),
    Scenario("north", "plateau", 18, (18, 17, 18, 17, 16, 17), weeks_ago=6, attendance=0.8,
             family=True),
    Scenario("south", "worsening", 15, (14, 16, 21), days_per_week=3, weeks_ago=3),
    Scenario("north", "worsening", 16, (15, 17, 18, 23), weeks_ago=4, attendance=0.7),
    Scenario("south", "high_risk", 24, source="self"),
    Scenario("north", "mild", 7, source="self"),
]


class Narrator:
    """Prints each step of each patient's path as it happens; keeps the path's summary."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.summaries: dict[str, list[str]] = {}

    def say(self, who: Patient, service: str, text: str, summary: str | None = None) -> None:
        print(f"{time.perf_counter() - self.started:5.1f}s  {who.label} {who.site.label:<5}  "
              f"{service:<13} {text}", flush=True)
        if summary:
            self.summaries.setdefault(who.label, []).append(summary)


@dataclass
class Patient:
    label: str
    scenario: Scenario
    site: DemoSite
    api: Api
    patient_id: str = ""
    starts_on: date | None = None
    schedule: list[dict[str, Any]] = field(default_factory=list)
    origin: str = ""

    def __post_init__(self) -> None:
        self.origin = self.origin or self.site.label


@dataclass
class Network:
    operator: Api
    sites: dict[str, Api]
    hooks: WebhookReceiver
    mail: MailCatcher | None
    narrator: Narrator = field(default_factory=Narrator)


# --- Setting up the network ------------------------------------------------------------------


async def set_up_network(operator: Api, hooks: WebhookReceiver, mail: MailCatcher | None
                         ) -> Network:
    apis = {}
    for site in SITES:
        api = await j.onboard_site(operator, site.site_id, name=site.name,
                                   time_zone=site.time_zone, policies=j.NO_QUIET_HOURS)
        await j.set_channels(api, site.site_id,
                             clinician_alert_email=f"alerts@{site.site_id}.example.org",
                             webhook_url=hooks.url, webhook_secret=WEBHOOK_SECRET)
        groups = await j.set_up_program(api, site.program_id, name=f"{site.name} adult IOP")
        print(f"  {site.label:<5}  {site.site_id} ({site.time_zone}), quiet hours off, key "
              f"known to all five services, program {site.program_id} with groups "
              f"{', '.join(g.rsplit('-', 1)[1] for g in groups)} 09:00, webhook and "
              f"clinician alert channels set", flush=True)
        apis[site.label] = api
    return Network(operator, apis, hooks, mail)


# --- One patient's path ----------------------------------------------------------------------


def attendance_pattern(rate: float, seed: int) -> Callable[[int], tuple[str, int]]:
    chance = random.Random(seed)

    def status_of(_: int) -> tuple[str, int]:
        roll = chance.random()
        if roll > rate:
            return ("excused", 0) if roll > (1 + rate) / 2 + 0.04 else ("absent", 0)
        return ("late", chance.choice([5, 10, 20])) if roll < 0.08 else ("attended", 0)

    return status_of


async def intake(net: Network, p: Patient, n: int) -> dict[str, Any]:
    s, say, api = p.scenario, net.narrator.say, p.api
    # Referred a week before the program started: a start never precedes its referral.
    referred_on = p.site.today() - timedelta(weeks=s.weeks_ago + 1)
    p.patient_id = await j.refer(api, s.source, referred_on=referred_on.isoformat(), patient={
        "given_name": GIVEN[n % len(GIVEN)], "family_name": "Demo",
        "birth_date": date(1960 + 3 * n, 1 + n % 12, 1 + 2 * n).isoformat()})
    say(p, "intake", f"referred ({s.source}) → PatientReferred; patient {p.patient_id[:8]}",
        f"referred ({s.source})")
    await j.set_contact(api, p.patient_id, f"patient-{p.patient_id[:8]}@example.org")
    say(p, "notifications", "← PatientReferred: knows the patient; contact email set")
    item9 = 2 if s.path == "high_risk" else 0
    cssrs = j.HIGH_RISK if s.path == "high_risk" else j.NO_RISK
    scored = await j.screen(api, p.patient_id, phq9=j.phq9_items(s.phq9, item9), cssrs=cssrs,
                            gad7=s.gad7)
    scores = f"PHQ-9 {scored['phq9']['total']} {scored['phq9']['band']}"
    if "gad7" in scored:
        scores += f", GAD-7 {scored['gad7']['total']} {scored['gad7']['band']}"
    scores += f", C-SSRS {scored['cssrs']['band']}"
    advice = await j.recommendation(api, p.patient_id)
    reasons = ", ".join(r["code"] for r in advice["reasons"])
    say(p, "intake", f"{scores} → recommends {advice['level']} ({reasons})"
        + (", URGENT" if advice["urgent_alert"] else ""), f"{scores} → {advice['level']}")
    return advice


async def admit(net: Network, p: Patient) -> None:
    s, say, api = p.scenario, net.narrator.say, p.api
    p.starts_on = p.site.today() - timedelta(weeks=s.weeks_ago)
    await j.admission(api, p.patient_id, program_id=p.site.program_id, start_date=p.starts_on,
                      days_per_week=s.days_per_week, planned_weeks=s.planned_weeks)
    say(p, "intake", f"admitted → PatientAdmitted: IOP {s.days_per_week} d/wk x "
        f"{s.planned_weeks} wk from {p.starts_on} ({s.weeks_ago} weeks ago)",
        f"IOP {s.days_per_week} d/wk x {s.planned_weeks} wk")
    plan, etag = await j.drafted_plan(api, p.patient_id)
    modalities = ", ".join(f"{i['modality']} {i['sessions_per_week']}/wk"
                           for i in plan["interventions"])
    say(p, "plans", f"← PatientAdmitted: plan drafted (ETag {etag}): problems "
        f"{', '.join(pr['code'] for pr in plan['problems'])}; {modalities}")
    p.schedule = await j.wait_scheduled(api, p.patient_id)
    days = sorted({datetime.fromisoformat(x["starts_at"]).astimezone(
        ZoneInfo(p.site.time_zone)).weekday() for x in p.schedule if x["kind"] == "group"})
    individual = sum(1 for x in p.schedule if x["kind"] == "individual")
    say(p, "sessions", f"← PatientAdmitted: {len(p.schedule)} sessions scheduled (groups "
        f"{' '.join(WEEKDAYS[d] for d in days)}, {individual} individual) → SessionsScheduled",
        f"{len(p.schedule)} sessions scheduled")
    welcome = await wait_for_messages(api, p.patient_id, {"welcome"})
    say(p, "notifications", f"← PatientAdmitted: {describe_messages(welcome, {'welcome'})}")


async def weeks_in_program(net: Network, p: Patient) -> dict[str, Any]:
    """Attendance and the weekly PHQ-9 of the weeks since admission; what plans made of it."""
    s, say, api = p.scenario, net.narrator.say, p.api
    assert p.starts_on is not None
    today = p.site.today()
    held = await j.attend_before(api, p.patient_id, p.schedule, today,
                                 attendance_pattern(s.attendance, int(p.label[1:])))
    measured = await j.weekly_phq9(api, p.patient_id, p.starts_on, list(s.trajectory))
    signals = sorted({sig for m in measured for sig in m["risk_signals"]})
    say(p, "sessions", f"{len(held)} sessions held → SessionAttended / SessionMissed; "
        f"weekly PHQ-9 {' → '.join(str(m['total']) for m in measured)} → OutcomeMeasured"
        + (f", RiskSignalRaised ({', '.join(signals)})" if signals else ""))
    progress: dict[str, Any] = await j.wait_for(
        lambda: j.progress(api, p.patient_id, today),
        lambda pr: (pr["attendance"]["attended"] + pr["attendance"]["missed_excused"]
                    + pr["attendance"]["missed_unexcused"]) == len(held)
        and len(pr["phq9"]["trajectory"]) == len(measured)
        and len(pr["risk_signals"]) >= len(signals), timeout=30)
    att = progress["attendance"]
    phq9 = progress["phq9"]
    say(p, "plans", f"← SessionAttended/SessionMissed/OutcomeMeasured: attended "
        f"{att['attended']}/{att['scheduled_to_date']} ({att['late']} late), PHQ-9 "
        f"{phq9['baseline']}→{phq9['latest']}, goals met {progress['goals_met']}/"
        f"{len(progress['goals'])}"
        + (", step-up indicated" if progress["step_up"]["indicated"] else ""),
        f"attended {att['attended']}/{att['scheduled_to_date']}, PHQ-9 "
        f"{phq9['baseline']}→{phq9['latest']}")
    report = (await api.get("sessions", f"/v1/patients/{p.patient_id}/attendance")).json()
    if report["outreach"]:
        outreach = await wait_for_messages(api, p.patient_id, {"outreach"})
        say(p, "notifications", f"← OutreachNeeded ({len(report['outreach'])}x, after "
            f"consecutive absences): {describe_messages(outreach, {'outreach'})}")
    return progress


async def family(net: Network, p: Patient) -> tuple[str, str] | None:
    """A partner the patient lets see the schedule and progress summaries."""
    if not p.scenario.family:
        return None
    api, say = p.api, net.narrator.say
    person = await j.link_support_person(api, p.patient_id, given_name="Sam",
                                         family_name="Demo")
    await j.set_support_person_contact(api, p.patient_id, person,
                                       f"family-{person[:8]}@example.org")
    await j.grant_consent(api, p.patient_id, person, "schedule")
    progress_consent = await j.grant_consent(api, p.patient_id, person, "progress_summaries")
    view = await j.wait_for(lambda: j.shared_view(api, p.patient_id, person),
                            lambda v: v["shared"] and v["shared"][0]["upcoming_sessions"])
    say(p, "family", f"← PatientAdmitted, SessionsScheduled: partner linked, consent schedule "
        f"+ progress_summaries → sees {len(view['shared'][0]['upcoming_sessions'])} upcoming "
        f"sessions", "partner told schedule + progress")
    say(p, "plans", "← ConsentGranted (covers progress_summaries, schedule): no family "
        "therapy; consent to disclose is not an indication", "plan unchanged")
    return person, progress_consent


async def family_after(net: Network, p: Patient, person: tuple[str, str] | None) -> None:
    if person is None:
        return
    api, say = p.api, net.narrator.say
    view = await j.shared_view(api, p.patient_id, person[0])
    progress = next(s for s in view["shared"] if s["scope"] == "progress_summaries")
    upcoming = next(s for s in view["shared"] if s["scope"] == "schedule")["upcoming_sessions"]
    say(p, "family", f"← OutcomeMeasured, Stepped*, SessionsCancelled: partner sees trend "
        f"{progress['trend']}, care {progress['care_status']}, {len(upcoming)} upcoming "
        f"sessions (no scores)")


async def step_down(net: Network, p: Patient) -> None:
    api, say = p.api, net.narrator.say
    today = p.site.today()
    evaluation = await j.step_down_evaluation(api, p.patient_id, today)
    if not evaluation["eligible"]:
        unmet = "; ".join(c["detail"] for c in evaluation["criteria"] if not c["met"])
        say(p, "plans", f"step-down not yet: {unmet}",
            f"not eligible ({', '.join(evaluation['unmet'])})")
        await revise(net, p, "lack_of_progress")
        return
    await revise(net, p, "progress")
    stepped = await j.step_down(api, p.patient_id, effective_on=today, aftercare=AFTERCARE)
    say(p, "plans", f"step-down criteria met → SteppedDown to {stepped['to_level']} "
        f"(aftercare: {', '.join(AFTERCARE)})",
        f"stepped down (aftercare: {', '.join(AFTERCARE)})")
    await program_ended(net, p, today, "SteppedDown")
    done = await wait_for_messages(api, p.patient_id, {"aftercare_summary"})
    say(p, "notifications", f"← SteppedDown: {describe_messages(done, {'aftercare_summary'})}")


async def revise(net: Network, p: Patient, reason: str) -> None:
    api = p.api
    plan, etag = await j.drafted_plan(api, p.patient_id)
    if reason == "progress":
        group = next(i for i in plan["interventions"] if i["modality"] == "group_therapy")
        changes = [{"change": "change_frequency", "intervention_id": group["intervention_id"],
                    "sessions_per_week": max(1, group["sessions_per_week"] - 1)}]
        what = f"group therapy {group['sessions_per_week']}→{changes[0]['sessions_per_week']}/wk"
    else:
        objective = plan["problems"][0]["goals"][0]["objectives"][0]["objective_id"]
        changes = [{"change": "add_intervention", "modality": "dbt_skills",
                    "sessions_per_week": 1, "addresses": [objective]}]
        what = "adds DBT skills 1/wk"
    revised, etag = await j.revise_plan(api, p.patient_id, etag, changes, reason)
    net.narrator.say(p, "plans", f"plan revised under If-Match → PlanRevised rev "
                     f"{revised['revision']} ({reason}: {what})",
                     f"plan rev {revised['revision']} ({reason})")


async def step_up(net: Network, p: Patient, progress: dict[str, Any]) -> None:
    api, say = p.api, net.narrator.say
    today = p.site.today()
    reasons = [r["code"] for r in progress["step_up"]["reasons"]] or ["clinical_deterioration"]
    await j.step_up(api, p.patient_id, to_level="partial_hospitalization",
                    reason_codes=reasons, effective_on=today)
    say(p, "plans", f"→ SteppedUp to partial_hospitalization ({', '.join(reasons)})",
        "stepped up to partial hospitalization")
    await program_ended(net, p, today, "SteppedUp")
    alerts = await wait_for_messages(api, p.patient_id, {"urgent_alert"})
    say(p, "notifications", f"← RiskSignalRaised: {describe_messages(alerts, {'urgent_alert'})}")


async def program_ended(net: Network, p: Patient, today: date, event: str) -> None:
    await j.wait_for(lambda: j.enrollment(p.api, p.patient_id),
                     lambda e: e is not None and e["status"] == "ended")
    sessions = await j.sessions_of(p.api, p.patient_id)
    cancelled = sum(1 for s in sessions if s["status"] == "cancelled")
    net.narrator.say(p, "sessions", f"← {event}: enrollment ended, {cancelled} remaining "
                     f"sessions cancelled → SessionsCancelled",
                     f"{cancelled} sessions cancelled")


async def transfer(net: Network, p: Patient, to: str) -> None:
    """The operator moves the patient's care to another site; the new site's key sees it."""
    answer = await net.operator.post("intake", f"/v1/patients/{p.patient_id}/transfer",
                                     json={"to_site_id": next(s.site_id for s in SITES
                                                              if s.label == to)})
    j.ok(answer, 200)
    old = p.site
    p.site, p.api = next(s for s in SITES if s.label == to), net.sites[to]
    await j.wait_for(lambda: asyncio.gather(*(p.api.get(s, f"/v1/patients/{p.patient_id}")
                                              for s in SERVICES)),
                     lambda answers: all(a.status_code == 200 for a in answers))
    gone = await net.sites[old.label].get("plans", f"/v1/patients/{p.patient_id}")
    net.narrator.say(p, "intake", f"operator transfers care {old.label} → {to} → "
                     f"PatientTransferred; all five services now answer {to}'s key "
                     f"({old.label}'s: {gone.status_code})", f"transferred to {to}")


async def declined(net: Network, p: Patient, advice: dict[str, Any]) -> None:
    api, say = p.api, net.narrator.say
    if advice["safety_plan_required"]:
        plan = await j.safety_plan(api, p.patient_id)
        say(p, "intake", "Stanley-Brown safety plan written with the patient → "
            f"SafetyPlanRecorded (988 Lifeline included: "
            f"{plan['plan']['professionals_and_agencies'][-1]})", "safety plan")
    await j.decline(api, p.patient_id)
    level = advice["level"]
    say(p, "intake", f"IOP declined → AdmissionDeclined (refer to {level})",
        f"declined (→ {level})")
    wanted = {"urgent_alert"} if advice["urgent_alert"] else set()
    if wanted:
        alerts = await wait_for_messages(api, p.patient_id, wanted)
        say(p, "notifications", f"← AdmissionDeclined, RiskSignalRaised: "
            f"{describe_messages(alerts, wanted)}")
        alert = await j.acknowledge_alert(api, p.patient_id, "clin-7",
                                          "called the patient; inpatient bed arranged")
        say(p, "notifications", f"clinician clin-7 acknowledges alert "
            f"{alert['alert_id'][:8]} ({', '.join(alert['alert_reasons'])}) → "
            f"AlertAcknowledged; no escalation to the second contact", "alert acknowledged")


async def wait_for_messages(api: Api, patient_id: str, kinds: set[str], timeout: float = 15
                            ) -> list[dict[str, Any]]:
    """Notifications' messages for the patient, once those of ``kinds`` are queued."""
    found: list[dict[str, Any]] = await j.wait_for(
        lambda: j.messages(api, patient_id),
        lambda ms: kinds <= {m["kind"] for m in ms}, timeout)
    return found


def describe_messages(messages: list[dict[str, Any]], kinds: set[str]) -> str:
    picked = [m for m in messages if m["kind"] in kinds]
    counted = Counter((m["kind"], m["channel"], m["recipient_role"], m["status"])
                      for m in picked)
    return "; ".join(f"{kind} by {channel} to {role} ({status}"
                     + (f" x{n}" if n > 1 else "") + ")"
                     for (kind, channel, role, status), n in sorted(counted.items()))


async def journey(net: Network, n: int, scenario: Scenario) -> Patient:
    site = next(s for s in SITES if s.label == scenario.site)
    p = Patient(f"P{n + 1:02d}", scenario, site, net.sites[site.label])
    advice = await intake(net, p, n)
    if scenario.path in ("high_risk", "mild"):
        await declined(net, p, advice)
        return p
    await admit(net, p)
    person = await family(net, p)
    if scenario.transfer_to:
        await transfer(net, p, scenario.transfer_to)
    progress = await weeks_in_program(net, p)
    if scenario.path == "worsening":
        await step_up(net, p, progress)
    else:
        await step_down(net, p)
    await family_after(net, p, person)
    return p


async def the_end(net: Network, patients: list[Patient]) -> None:
    """Each patient's whole path, with the messages notifications keeps for them."""
    await asyncio.sleep(0)  # every path printed; now the summary
    print("\nPaths (each service read back through its own API):", flush=True)
    for p in patients:
        sent = await j.messages(p.api, p.patient_id)
        kinds = Counter(m["kind"] for m in sent)
        statuses: dict[str, set[str]] = {}
        for m in sent:
            statuses.setdefault(m["kind"], set()).add(m["status"])
        hooks = Counter(h["kind"] for h in net.hooks.payloads()
                        if h.get("patient_id") == p.patient_id)
        steps = net.narrator.summaries.get(p.label, [])
        line = " → ".join(steps)
        line += " → messages: " + (", ".join(
            f"{k}" + (f" x{c}" if c > 1 else "") + f" ({'/'.join(sorted(statuses[k]))})"
            for k, c in sorted(kinds.items())) or "none")
        if hooks:
            line += "; signed webhooks: " + ", ".join(sorted(hooks))
        where = p.site.label if p.origin == p.site.label else f"{p.origin}→{p.site.label}"
        print(f"{p.label} {where:<5}  {line}", flush=True)
    if net.mail is not None:
        print(f"\nThe SMTP server received {len(net.mail.messages)} emails; the webhook "
              f"endpoint {len(net.hooks.received)} signed webhooks "
              f"({len(net.hooks.rejected)} with a bad signature).", flush=True)
    else:
        print(f"\nThe webhook endpoint received {len(net.hooks.received)} signed webhooks "
              f"({len(net.hooks.rejected)} with a bad signature).", flush=True)


# --- Running it ------------------------------------------------------------------------------


async def drive(stack: Stack, mail: MailCatcher | None, concurrency: int) -> None:
    hooks = WebhookReceiver(WEBHOOK_SECRET).start()
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            operator = Api(stack, http, stack.operator_key)
            started = time.perf_counter()
            print("Setting up the network:", flush=True)
            net = await set_up_network(operator, hooks, mail)
            print(f"\nPatients ({concurrency} at a time; service that answered, "
                  "← what it learned from events):", flush=True)
            net.narrator.started = started
            gate = asyncio.Semaphore(concurrency)

            async def one(n: int, scenario: Scenario) -> Patient:
                async with gate:
                    return await journey(net, n, scenario)

            patients = await asyncio.gather(*(one(n, s) for n, s in enumerate(SCENARIOS)))
            await the_end(net, list(patients))
            print(f"\n{len(patients)} patients at {len(SITES)} sites in "
                  f"{time.perf_counter() - started:.1f}s", flush=True)
    finally:
        hooks.stop()


def operator_key() -> str | None:
    from iopctl.system import operator_key_file

    if from_env := os.environ.get(OPERATOR_KEY_ENV):
        return from_env
    keyfile = operator_key_file()
    return keyfile.read_text().strip() if keyfile.exists() else None


async def against_running_system(concurrency: int) -> int:
    key = operator_key()
    stack = Stack(database_url={}, kafka_bootstrap="", operator_key=key or "",
                  ports=dict(DEFAULT_PORTS))
    try:
        async with httpx.AsyncClient(timeout=3) as probe:
            ready = (await probe.get(stack.url("intake") + "/readyz")).status_code == 200
    except httpx.HTTPError:
        ready = False
    if not ready:
        print(f"iopnet does not answer at {stack.url('intake')}: start it with `make up` in "
              "another terminal (or run `python -m demo.run --start`).", file=sys.stderr)
        return 1
    if key is None:
        print(f"no operator key: set {OPERATOR_KEY_ENV} or keep it in .iopnet/operator.key "
              "(`make up` makes it).", file=sys.stderr)
        return 1
    async with local_mail(2525) as mail:  # notifications' default SMTP server, when free
        await drive(stack, mail, concurrency)
    return 0


@contextlib.asynccontextmanager
async def local_mail(port: int) -> AsyncIterator[MailCatcher | None]:
    try:
        mail: MailCatcher | None = MailCatcher(port).start()
    except (OSError, RuntimeError):
        mail = None  # someone else serves that port: their relay gets the email
    try:
        yield mail
    finally:
        if mail is not None:
            mail.stop()


async def with_own_system(concurrency: int) -> int:
    """Starts the five services like ``make up`` (fresh databases, own consumer groups,
    an SMTP server of its own), drives the demo, and stops them."""
    from iopctl import infra
    from iopctl.kafka_admin import ensure_topics
    from iopctl.pgsql import drop_database, restricted_database
    from iopnet.auth.keys import new_key
    from iopnet.topics import NAMESPACE_ENV
    from tests.e2e.conftest import FAST_DELIVERY
    from tests.fixtures.kafka import drop_topics

    print("Starting Postgres, Kafka and the five services ...", flush=True)
    endpoints = await infra.up()
    run = RUN
    # Topics of its own, away from a `make up` system on the same broker (and removed after).
    os.environ[NAMESPACE_ENV] = f"demo{run}"
    databases = {s: await restricted_database(endpoints.pg_admin_dsn, f"demo_{s}_{run}")
                 for s in SERVICES}
    mail = MailCatcher().start()
    logs = Path(tempfile.mkdtemp(prefix="iopnet-demo-logs-"))
    stack = Stack.restricted(databases, kafka_bootstrap=endpoints.kafka_bootstrap,
                  operator_key=new_key().plaintext, consumer_group_suffix=f"-demo-{run}",
                  ports={s: free_port() for s in SERVICES}, log_dir=logs,
                  extra_env={"IOPNET_SMTP_HOST": mail.host, "IOPNET_SMTP_PORT": str(mail.port),
                             **FAST_DELIVERY})
    await ensure_topics(endpoints.kafka_bootstrap)
    await stack.migrate()
    stack.start()
    try:
        await stack.wait_ready()
        print(f"ready ({', '.join(f'{s} {stack.url(s)}' for s in SERVICES)}; logs in {logs})\n",
              flush=True)
        await drive(stack, mail, concurrency)
    finally:
        stack.stop()
        mail.stop()
        for service in SERVICES:
            await drop_database(endpoints.pg_admin_dsn, f"demo_{service}_{run}")
        await drop_topics(endpoints.kafka_bootstrap)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", action="store_true",
                        help="start a system of its own (fresh databases) and stop it after")
    parser.add_argument("--concurrency", type=int, default=3,
                        help="patients driven at once (1: one after the other)")
    args = parser.parse_args()
    runner: Callable[[int], Coroutine[Any, Any, int]] = (with_own_system if args.start
                                               else against_running_system)
    return asyncio.run(runner(max(1, args.concurrency)))


if __name__ == "__main__":
    sys.exit(main())
