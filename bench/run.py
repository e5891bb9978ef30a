"""``make bench``: the running system measured end to end, next to the raw limit.

Starts the five services exactly as ``make up`` does (fresh bench databases, a
topic namespace and consumer groups of its own) and, in the same run, the raw
baseline (``bench.baseline``: FastAPI + asyncpg, one transaction per request,
nothing else). Then:

- rounds, alternating: the baseline's route, then iopnet's write routes one at a
  time (referrals, assessments, admissions), each a closed loop of ``--requests``
  at ``--concurrency``; the ratio iopnet/baseline per route; patients admitted a
  second (four requests each) from the same rounds;
- propagation under a sustained load: admissions started at half that maximum
  rate, to a program with five weekly groups (every admission schedules its
  weeks), and from the databases' own clocks the time from intake recording
  ``PatientAdmitted`` to each consumer applying it;
- catch-up: the consumers stopped, admissions piled up, then each consumer
  started alone and its apply rate in events a second measured;
- key revocation: from the revoke call to refusal in all five services;
- each process's resident memory at the end.

Prints Markdown and writes it into docs/benchmarks.md with the command.
Point it at running servers with ``--pg-dsn`` and ``--kafka-bootstrap``
(otherwise it starts the local ones as ``make up`` does); it creates its own
databases and topics there and removes them afterwards.
"""

from __future__ import annotations

import os
import uuid

# Before anything computes a topic name: the bench's events stay in topics of
# their own, away from a `make up` system on the same broker.
os.environ.setdefault("IOPNET_TOPIC_NAMESPACE", f"bench{uuid.uuid4().hex[:6]}")

import argparse
import asyncio
import contextlib
import functools
import shlex
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench import baseline, clock, machine, profile, stages
from bench.load import Round, Send, closed_loop, load_average, open_loop, percentile
from iopctl import infra
from iopctl.kafka_admin import ensure_topics
from iopctl.paths import REPO_ROOT
from iopctl.pgsql import drop_database, recreate_database, restricted_database
from iopctl.proc import proc_dir
from iopctl.stack import Stack
from iopnet.auth.keys import new_key
from iopnet.topics import SERVICES, topic_of
from tests.e2e.client import SITE_SCOPES, Api
from tests.e2e.journeys import (
    ADA,
    NO_QUIET_HOURS,
    NO_RISK,
    SEVERE_NO_ITEM9,
    WEEKLY_GROUPS,
    admit,
    set_up_program,
)
from tests.fixtures.dates import site_today
from tests.fixtures.kafka import drop_topics

CONSUMERS = ("plans", "sessions", "family", "notifications")
SITE = "bench-site"
PROGRAM = "iop-adult"
#: A program as sites run it: a group every weekday, so an admission schedules its weeks.
GROUPS = [*WEEKLY_GROUPS, ("fri", "relapse_prevention", 4)]
DAYS_PER_WEEK = 5
PLANNED_WEEKS = 10
ROUTES = {"referral": "POST /v1/referrals",
          "assessment": "POST /v1/patients/{id}/assessments",
          "admission": "POST /v1/patients/{id}/admission"}
BENCHMARKS_DOC = REPO_ROOT / "docs" / "benchmarks.md"


@dataclass(frozen=True)
class Options:
    requests: int
    rounds: int
    concurrency: int
    samples: int
    backlog: int
    revocations: int
    pg_dsn: str | None
    kafka_bootstrap: str | None
    write: bool
    profile: Path | None
    rounds_only: bool
    #: Admissions a second in the propagation phase; 0: half the measured maximum.
    propagation_rate: float = 0.0


@dataclass
class Results:
    baseline: list[Round] = field(default_factory=list)
    routes: dict[str, list[Round]] = field(default_factory=dict)
    admission_rates: list[float] = field(default_factory=list)
    #: Patients a second counting the time the system took to do what they caused.
    sustained_rates: list[float] = field(default_factory=list)
    offered_rate: float = 0.0
    offered_seconds: float = 0.0
    offered_load: float = 0.0
    #: From the rounds' end until every service applied their admissions (a backlog).
    settle_seconds: float = 0.0
    propagation: dict[str, list[float]] = field(default_factory=dict)
    #: The same admissions' path split at the broker (``bench.stages``).
    stages: dict[str, list[float]] = field(default_factory=dict)
    catch_up: dict[str, clock.CatchUp] = field(default_factory=dict)
    catch_up_load: dict[str, float] = field(default_factory=dict)
    revocation: list[float] = field(default_factory=list)
    memory: dict[str, float] = field(default_factory=dict)
    profiles: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


#: Kinds of process whose CPU a request the rounds report, in the report's order.
SERVER = "the API serving the round"
KINDS = (SERVER, "Postgres", "Kafka broker", "workers", "other APIs", "load generator",
         machine.REST)


@dataclass(frozen=True)
class Watch:
    """What the rounds watch: the two servers, every process's kind, and when the work a
    round caused is done (``clock.settled``)."""

    baseline: int
    intake: int
    classify: machine.Classify
    settle: Callable[[], Awaitable[None]]

    @classmethod
    def of(cls, stack: Stack, baseline_pid: int, databases: Mapping[str, str]) -> Watch:
        """A round's server is the baseline or intake's API, whichever is being loaded:
        the other idles, so both count as the serving API."""
        named = {baseline_pid: SERVER, os.getpid(): "load generator"}
        for name, process in stack.processes.items():
            named[process.pid] = ("workers" if name.endswith("-worker") else
                                  SERVER if name == "intake-api" else "other APIs")

        async def settle() -> None:
            await clock.outbox_empty(databases["intake"])
            await clock.settled({s: databases[s] for s in CONSUMERS}, quiet=1.0, timeout=900)

        return cls(baseline_pid, stack.processes["intake-api"].pid, machine.classifier(named),
                   settle)


def free_ports(count: int) -> list[int]:
    """Loopback ports nobody listens on, below the ephemeral range (see iopctl.ports)."""
    found: list[int] = []
    for port in range(18100 + os.getpid() % 500 * 2, 19999):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise RuntimeError("not enough free ports in 18100-19999")


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 30) -> float:
    started = time.perf_counter()
    while not await check():
        if time.perf_counter() - started > timeout:
            raise TimeoutError("not reached")
        await asyncio.sleep(0.005)
    return time.perf_counter() - started


async def _everywhere(api: Api, status: int) -> bool:
    answers = await asyncio.gather(*(api.get(s, f"/v1/patients/{uuid.uuid4()}")
                                     for s in SERVICES))
    return all(a.status_code == status for a in answers)


# --- the rounds ------------------------------------------------------------------------------


def _sends(count: int, send: Callable[[int], Awaitable[httpx.Response]]) -> Iterator[Send]:
    return (functools.partial(send, n) for n in range(count))


async def baseline_round(http: httpx.AsyncClient, url: str, watch: Watch, options: Options
                         ) -> Round:
    body = {"source": "provider", "patient": ADA}
    measured, _ = await closed_loop(
        "baseline", _sends(options.requests, lambda _: http.post(url, json=body)),
        options.concurrency, server=watch.baseline, classify=watch.classify,
        settle=watch.settle)
    return measured


async def iopnet_round(site: Api, watch: Watch, options: Options
                       ) -> tuple[dict[str, Round], float]:
    """The three write routes, each over ``requests`` patients; patients admitted a second."""
    n, c = options.requests, options.concurrency
    watched = functools.partial(closed_loop, server=watch.intake, classify=watch.classify,
                                settle=watch.settle)
    referred, answers = await watched(ROUTES["referral"], _sends(n, lambda _: site.post(
        "intake", "/v1/referrals", json={"source": "provider", "patient": ADA})), c)
    patients = [a.json()["patient_id"] for a in answers]
    # All PHQ-9s, then all C-SSRSs: two writes to one patient's stream never race.
    assessments = [{"instrument": "phq9", "items": SEVERE_NO_ITEM9},
                   {"instrument": "cssrs", "answers": NO_RISK}]
    assessed, _ = await watched(ROUTES["assessment"], _sends(2 * n, lambda k: site.post(
        "intake", f"/v1/patients/{patients[k % n]}/assessments", json=assessments[k // n])), c)
    admission = {"program_id": PROGRAM, "start_date": site_today().isoformat(),
                 "days_per_week": DAYS_PER_WEEK, "planned_weeks": PLANNED_WEEKS,
                 "clinician_id": "clin-7"}
    admitted, _ = await watched(ROUTES["admission"], _sends(n, lambda k: site.post(
        "intake", f"/v1/patients/{patients[k]}/admission", json=admission)), c)
    rounds = {"referral": referred, "assessment": assessed, "admission": admitted}
    return rounds, n / sum(r.seconds for r in rounds.values())


async def alternate_rounds(http: httpx.AsyncClient, baseline_url: str, site: Api,
                           watch: Watch, options: Options, results: Results) -> None:
    for number in range(1, options.rounds + 1):
        print(f"round {number}/{options.rounds}: baseline ...", flush=True)
        results.baseline.append(await baseline_round(http, baseline_url, watch, options))
        print(f"round {number}/{options.rounds}: iopnet ...", flush=True)
        rounds, patients_per_second = await iopnet_round(site, watch, options)
        for name, measured in rounds.items():
            results.routes.setdefault(name, []).append(measured)
        results.admission_rates.append(patients_per_second)
        results.sustained_rates.append(options.requests / sum(
            r.seconds + r.settle_seconds for r in rounds.values()))
    if options.profile is not None:
        # A round of its own: sampling pauses the process, which its figures would show.
        print("profiled round (not counted) ...", flush=True)
        async with sampled(watch.baseline, options.profile, "baseline", options.requests,
                           results):
            await baseline_round(http, baseline_url, watch, options)
        async with sampled(watch.intake, options.profile, "intake API",
                           4 * options.requests, results):
            await iopnet_round(site, watch, options)


@contextlib.asynccontextmanager
async def sampled(pid: int, folder: Path | None, name: str, requests: int,
                  results: Results) -> AsyncIterator[None]:
    """With ``--profile``: py-spy samples the process for the block; a summary is kept."""
    if folder is None:
        yield
        return
    output = folder / f"{name.replace(' ', '-')}.txt"
    recorder = profile.start(pid, output)
    await asyncio.sleep(1)  # py-spy attaches
    try:
        yield
    finally:
        profile.stop(recorder)
    results.profiles[name] = profile.summary(output, requests)


# --- propagation and catch-up ------------------------------------------------------------


async def propagation_under_load(site: Api, databases: dict[str, str], options: Options,
                                 results: Results) -> None:
    """Admissions at half the measured maximum, from the first request to the last;
    each ``PatientAdmitted`` of that window timed to each consumer."""
    rate = options.propagation_rate or statistics.median(results.admission_rates) / 2
    results.offered_rate = rate
    # The rounds admit at the maximum rate, faster than sessions schedules: measured from a
    # settled system, the phase times the sustained half-rate load, not that backlog.
    print("propagation: waiting for the rounds' admissions to reach every service ...",
          flush=True)
    started = time.monotonic()
    await clock.outbox_empty(databases["intake"])
    await clock.settled({s: databases[s] for s in CONSUMERS}, timeout=900)
    results.settle_seconds = time.monotonic() - started
    print(f"propagation: {options.samples} admissions at {rate:.1f} patients/s ...", flush=True)
    since = await clock.now(databases["intake"])
    results.offered_seconds = await open_loop(
        functools.partial(admit, site, program_id=PROGRAM, days_per_week=DAYS_PER_WEEK,
                          planned_weeks=PLANNED_WEEKS, start_date=site_today()),
        rate, options.samples)
    results.offered_load = load_average()
    until_ = await clock.now(databases["intake"])
    results.propagation = await clock.delays(
        databases["intake"], {s: databases[s] for s in CONSUMERS}, "PatientAdmitted",
        since, until_)
    recorded = await clock.recorded(databases["intake"], "PatientAdmitted", since, until_)
    applied = {s: await clock.applied(databases[s], list(recorded)) for s in CONSUMERS}
    sent = await stages.published(site.stack.kafka_bootstrap, topic_of("intake"), recorded)
    results.stages = stages.split(recorded, sent, applied)


async def catch_up(stack: Stack, site: Api, databases: dict[str, str], options: Options,
                   results: Results) -> None:
    # A consumer's catch-up counts as over after a quiet spell; one still joining its
    # group after a restart can look quiet, so each figure is a lower bound.
    """Consumers stopped while ``backlog`` patients are admitted, then started one at a
    time (sessions first: the others consume the sessions it schedules)."""
    print("catch-up: waiting for the system to be idle ...", flush=True)
    await clock.outbox_empty(databases["intake"])
    await clock.settled({s: databases[s] for s in CONSUMERS})
    print(f"catch-up: {options.backlog} admissions with the consumers stopped ...", flush=True)
    for service in CONSUMERS:
        stack.pause(service, "worker")
    gate = asyncio.Semaphore(options.concurrency)

    async def one() -> None:
        async with gate:
            await admit(site, program_id=PROGRAM, days_per_week=DAYS_PER_WEEK,
                        planned_weeks=PLANNED_WEEKS, start_date=site_today())

    await asyncio.gather(*(one() for _ in range(options.backlog)))
    await clock.outbox_empty(databases["intake"])
    for service in ("sessions", "plans", "family", "notifications"):
        since = await clock.now(databases[service])
        stack.resume(service, "worker")
        results.catch_up[service] = await clock.catch_up(databases[service], since)
        results.catch_up_load[service] = load_average()
        await clock.outbox_empty(databases[service])
        caught = results.catch_up[service]
        print(f"  {service}: {caught.events} events at {caught.rate:.0f}/s"
              f" ({caught.facts_rate:.0f} facts/s)", flush=True)


async def revocation(operator: Api, samples: int, results: Results) -> None:
    seconds = results.revocation
    for _ in range(samples):
        issued = await operator.issue_key(SITE)
        key = operator.with_key(issued["api_key"])
        await until(functools.partial(_everywhere, key, 404))
        await operator.post("intake", f"/v1/network/keys/{issued['key_id']}/revoke")
        started = time.perf_counter()
        await until(functools.partial(_everywhere, key, 401))
        seconds.append(time.perf_counter() - started)


def resident_mib(pid: int) -> float:
    folder = proc_dir(pid)
    if folder is None:
        return 0.0
    for line in (folder / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- the run ---------------------------------------------------------------------------------


async def infrastructure(options: Options) -> tuple[str, str]:
    if options.pg_dsn and options.kafka_bootstrap:
        return options.pg_dsn, options.kafka_bootstrap
    endpoints = await infra.up()
    return (options.pg_dsn or endpoints.pg_admin_dsn,
            options.kafka_bootstrap or endpoints.kafka_bootstrap)


def start_baseline(dsn: str, port: int, log_dir: Path) -> subprocess.Popen[bytes]:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = (log_dir / "baseline.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "bench.baseline", dsn, str(port)],
                            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


async def set_up_site(operator: Api) -> Api:
    await operator.post("intake", "/v1/network/sites", json={
        "site_id": SITE, "name": "Bench Clinic", "time_zone": "America/Chicago",
        "policies": NO_QUIET_HOURS})
    issued = await operator.issue_key(SITE, SITE_SCOPES, rate_limit_per_minute=100_000)
    site = operator.with_key(issued["api_key"])
    await until(lambda: _everywhere(site, 404))
    await set_up_program(site, PROGRAM, groups=GROUPS)
    return site


async def main(options: Options) -> Results:
    pg_dsn, kafka_bootstrap = await infrastructure(options)
    run = uuid.uuid4().hex[:6]
    names = {s: f"bench_{s}_{run}" for s in [*SERVICES, "baseline"]}
    databases = {s: await restricted_database(pg_dsn, names[s]) for s in SERVICES}
    baseline_dsn = await recreate_database(pg_dsn, names["baseline"])
    *ports, baseline_port = free_ports(len(SERVICES) + 1)
    stack = Stack.restricted(databases, kafka_bootstrap=kafka_bootstrap,
                             operator_key=new_key().plaintext,
                             consumer_group_suffix=f"-bench-{run}",
                             ports=dict(zip(SERVICES, ports, strict=True)))
    observed = {s: d.owner for s, d in databases.items()}  # the clocks read any table
    stack.log_dir = stack.log_dir / f"bench-{run}"
    results = Results()
    await ensure_topics(kafka_bootstrap)
    await stack.migrate()
    raw = start_baseline(baseline_dsn, baseline_port, stack.log_dir)
    stack.start()
    try:
        await stack.wait_ready()
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=64)
                                     ) as http:
            baseline_url = f"http://127.0.0.1:{baseline_port}{baseline.PATH}"
            await until(functools.partial(_answers, http, baseline_url))
            operator = Api(stack, http, stack.operator_key)
            site = await set_up_site(operator)
            watch = Watch.of(stack, raw.pid, observed)
            await alternate_rounds(http, baseline_url, site, watch, options, results)
            if not options.rounds_only:
                await _phase(results, propagation_under_load(site, observed, options,
                                                             results))
                await _phase(results, catch_up(stack, site, observed, options, results))
                print(f"revocation ({options.revocations} samples) ...", flush=True)
                await _phase(results, revocation(operator, options.revocations, results))
        results.memory = {name: resident_mib(p.pid) for name, p in stack.processes.items()}
        results.memory["baseline"] = resident_mib(raw.pid)
    finally:
        raw.terminate()
        raw.wait(timeout=15)
        stack.stop()
        for name in names.values():
            await drop_database(pg_dsn, name)
        await drop_topics(kafka_bootstrap)
    return results


async def _phase(results: Results, phase: Awaitable[None]) -> None:
    """A phase that fails is reported; the figures of the others are kept."""
    try:
        await phase
    except Exception as error:
        results.errors.append(f"{type(error).__name__}: {error}")
        print(f"failed: {results.errors[-1]}", flush=True)


async def _answers(http: httpx.AsyncClient, url: str) -> bool:
    try:
        await http.get(url)
        return True
    except httpx.HTTPError:
        return False


# --- the report ------------------------------------------------------------------------------


def latency_row(name: str, values: Sequence[float], scale: float = 1000) -> str:
    if not values:
        return f"| {name} | 0 | | | | |"
    cells = " | ".join(f"{percentile(values, q) * scale:.0f} ms" for q in (0.5, 0.95, 0.99))
    return f"| {name} | {len(values)} | {cells} | {max(values) * scale:.0f} ms |"


def report(results: Results, options: Options, command: str) -> str:
    base = statistics.median(r.rate for r in results.baseline)
    base_cpu = statistics.median(r.cpu_ms for r in results.baseline)
    lines = [
        f"`{command}`, {options.rounds} rounds alternating baseline and iopnet, "
        f"{options.requests} requests a route a round (assessments: two a patient), "
        f"concurrency {options.concurrency}; one-minute load average after each round "
        "in brackets. Server CPU: user + system time of the serving process (the "
        "baseline's, intake's API) a request; CPU ratio: the baseline's over the route's, "
        "what the throughput ratio comes to when the API has a core to itself.", "",
        "| route | requests/s by round | median | p50 latency | p99 latency | iopnet/baseline "
        "| server CPU a request | CPU ratio |", "|---|---|---|---|---|---|---|---|",
        _route_row("baseline (FastAPI + asyncpg, one transaction)", results.baseline, base,
                   base_cpu),
    ]
    lines += [_route_row(ROUTES[name], rounds, base, base_cpu)
              for name, rounds in results.routes.items()]
    lines += _machine_rows(results)
    admissions = statistics.median(results.admission_rates)
    sustained = statistics.median(results.sustained_rates)
    lines += ["", f"Admissions (referral, two assessments, admission): "
              f"{admissions:.1f} patients/s (rounds: "
              f"{', '.join(f'{r:.1f}' for r in results.admission_rates)}). Counting also "
              "the time the consumers took, after each route's round, to apply what it "
              f"caused (each round waits for that before the next starts): {sustained:.1f} "
              f"patients/s (rounds: {', '.join(f'{r:.1f}' for r in results.sustained_rates)})"
              ", what the system sustains."]
    if options.rounds_only:
        return _tail(results, lines)
    share = "a fixed rate" if options.propagation_rate else "half the maximum"
    lines += ["", f"Propagation under load: {options.samples} admissions started at "
              f"{results.offered_rate:.1f} patients/s ({share}) to a program with "
              f"{len(GROUPS)} weekly groups, {DAYS_PER_WEEK} days a week for {PLANNED_WEEKS} "
              f"weeks, over {results.offered_seconds:.0f} s (load {results.offered_load:.1f}); "
              "intake's `events.recorded_at` → each consumer's `applied_events.applied_at`. "
              f"It started once the rounds' admissions had reached every service, "
              f"{results.settle_seconds:.0f} s after the rounds ended:",
              "", "| PatientAdmitted applied in | n | p50 | p95 | p99 | max |",
              "|---|---|---|---|---|---|"]
    for name, values in results.propagation.items():
        label = "all four (the last of them)" if name == "all" else name
        lines.append(latency_row(label, values))
    if results.stages:
        lines += ["", "The same admissions split at the Kafka record's timestamp (CreateTime, "
                  "the relay's producer taking it; `bench/stages.py`):", "",
                  "| stage | n | p50 | p95 | p99 | max |", "|---|---|---|---|---|---|"]
        lines += [latency_row(name, values) for name, values in results.stages.items()]
    lines += ["", f"Catch-up: the four consumers stopped while {options.backlog} patients "
              "were admitted, then started one at a time:", "",
              "| consumer | events applied | seconds (first → last applied) | events/s"
              " | facts/s (a schedule: its sessions) | load |",
              "|---|---|---|---|---|---|"]
    for name, caught in results.catch_up.items():
        lines.append(f"| {name} | {caught.events} | {caught.seconds:.1f} | {caught.rate:.0f} "
                     f"| {caught.facts_rate:.0f} | {results.catch_up_load[name]:.1f} |")
    lines += ["", "| measure | n | p50 | p95 | p99 | max |", "|---|---|---|---|---|---|",
              latency_row("key revoked → refused in 5 services", results.revocation)]
    return _tail(results, lines)


def _tail(results: Results, lines: list[str]) -> str:
    lines += [f"\n**Failed**: {error}" for error in results.errors]
    lines += ["", "| process | RSS after the run |", "|---|---|"]
    lines += [f"| {name} | {mib:.0f} MiB |" for name, mib in sorted(results.memory.items())]
    for name, summary in results.profiles.items():
        lines += ["", f"Profile of the {name} in a round of its own (py-spy, samples of"
                  " the event loop's thread not waiting for I/O):", "",
                  summary.rstrip()]
    return "\n".join(lines) + "\n"


def _machine_rows(results: Results) -> list[str]:
    """Each kind of process's CPU a request in each route's rounds (median of the rounds),
    and the rate the machine's cores would bound the route at if it were all its own."""
    rounds = {"baseline": results.baseline} | {ROUTES[n]: r for n, r in results.routes.items()}
    cores = os.cpu_count() or 1
    lines = ["", "Where the machine's CPU goes in each route's rounds, from the first request "
             "until the system has applied everything they caused: CPU a request, in ms, "
             "by kind of process (user + system from /proc; the rest of the machine is its "
             "busy time no process listed explains: other processes, the kernel's own work). "
             f"Bound: {cores} cores divided by all of it, the requests/s the route would "
             "reach with the machine to itself and nothing waiting.", "",
             f"| route | {' | '.join(KINDS)} | all | bound |", "|---|" + "---|" * (len(KINDS) + 2)]
    for name, measured in rounds.items():
        if not measured or not measured[0].machine:
            continue
        cells = [statistics.median(r.machine_ms(kind) for r in measured) for kind in KINDS]
        total = statistics.median(r.machine_ms(None) for r in measured)
        lines.append(f"| {name} | {' | '.join(f'{c:.1f}' for c in cells)} | {total:.1f} "
                     f"| {cores * 1000 / total if total else 0:.0f}/s |")
    return lines


def _route_row(name: str, rounds: list[Round], base: float, base_cpu: float) -> str:
    rates = [r.rate for r in rounds]
    by_round = ", ".join(f"{r.rate:.0f} ({r.load:.1f})" for r in rounds)
    latencies = [s for r in rounds for s in r.latencies]
    median, cpu = statistics.median(rates), statistics.median(r.cpu_ms for r in rounds)
    return (f"| {name} | {by_round} | {median:.0f} | {percentile(latencies, 0.5) * 1000:.0f} ms "
            f"| {percentile(latencies, 0.99) * 1000:.0f} ms | {median / base:.2f} "
            f"| {cpu:.1f} ms | {base_cpu / cpu if cpu else 0:.2f} |")


def write_into_doc(text: str, doc: Path = BENCHMARKS_DOC) -> None:
    """The newest results first, after the introduction."""
    heading = f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `make bench`\n\n"
    current = doc.read_text()
    cut = current.find("\n## ")
    cut = len(current) if cut < 0 else cut + 1
    doc.write_text(current[:cut] + heading + text + "\n" + current[cut:])


def parse(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500,
                        help="requests a route a round (default 1500)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--samples", type=int, default=500,
                        help="admissions timed under the sustained load (default 500)")
    parser.add_argument("--backlog", type=int, default=400,
                        help="patients admitted while the consumers are stopped (default 400:"
                        " 100 was caught up in 0.3 s, too short a span to time)")
    parser.add_argument("--revocations", type=int, default=20)
    parser.add_argument("--pg-dsn", default=os.environ.get("IOPNET_BENCH_PG_DSN"),
                        help="a Postgres superuser DSN (default: the local server, started)")
    parser.add_argument("--kafka-bootstrap", default=os.environ.get("IOPNET_BENCH_KAFKA"))
    parser.add_argument("--no-write", dest="write", action="store_false",
                        help="print only; do not add the results to docs/benchmarks.md")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="then sample the intake API and the baseline with py-spy in an"
                        " extra round, its figures not counted; collapsed stacks go to DIR")
    parser.add_argument("--rounds-only", action="store_true",
                        help="only the alternating rounds (to compare two commits quickly)")
    parser.add_argument("--propagation-rate", type=float, default=0.0, metavar="PER_SECOND",
                        help="admissions a second in the propagation phase (default: half the"
                        " maximum measured; a fixed rate compares two commits on a shared"
                        " machine)")
    args = parser.parse_args(argv)
    return Options(args.requests, args.rounds, args.concurrency, args.samples, args.backlog,
                   args.revocations, args.pg_dsn, args.kafka_bootstrap, args.write,
                   args.profile, args.rounds_only, args.propagation_rate)


if __name__ == "__main__":
    chosen = parse()
    outcome = asyncio.run(main(chosen))
    shown = ["<dsn>" if "@" in a else a for a in sys.argv[1:]]  # no credentials in the doc
    text = report(outcome, chosen, shlex.join(["python", "-m", "bench.run", *shown]))
    print("\n" + text)
    if chosen.write:
        write_into_doc(text)
