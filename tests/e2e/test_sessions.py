"""Sessions on the running system: a program's groups, the schedule an admission gets,
attendance with outreach, and the weekly PHQ-9 with its risk signals."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from iopctl.kafka_principals import admin_options
from iopnet.envelope import EventEnvelope
from iopnet.kafka_binding import from_record
from iopnet.topics import all_topics, topic_of
from tests.conftest import eventually
from tests.e2e.client import Api
from tests.e2e.conftest import Site
from tests.e2e.journeys import (
    WEEKLY_GROUPS,
    admit,
    drafted_plan,
    ok,
    sessions_of,
    set_up_program,
    wait_for,
)
from tests.fixtures.dates import program_start

pytestmark = pytest.mark.e2e

PROGRAM = "sess-e2e-iop"
EMPTY_PROGRAM = "sess-e2e-empty"
SMALL_PROGRAM = "sess-e2e-small"
LATE_PROGRAM = "sess-e2e-late"
FREED_PROGRAM = "sess-e2e-freed"
START = program_start()  # a Monday in January, ahead of today; Chicago is on CST (UTC-6)
WEEK_2 = (START + timedelta(weeks=1)).isoformat()
GROUPS = [
    {"group_id": "sess-e2e-mon", "modality": "group_therapy", "weekday": 0, "capacity": 8},
    {"group_id": "sess-e2e-tue", "modality": "psychoeducation", "weekday": 1, "capacity": 8},
    {"group_id": "sess-e2e-wed", "modality": "mindfulness", "weekday": 2, "capacity": 8},
    {"group_id": "sess-e2e-thu", "modality": "cbt", "weekday": 3, "capacity": 8},
]


@pytest.fixture(scope="module")
async def program(north: Site) -> str:
    api = north.api
    created = await api.post("sessions", "/v1/programs",
                             json={"program_id": PROGRAM, "name": "Adult IOP (sessions e2e)"})
    assert created.status_code == 201, created.text
    again = await api.post("sessions", "/v1/programs",
                           json={"program_id": PROGRAM, "name": "Adult IOP (sessions e2e)"})
    assert again.status_code == 200, again.text
    for group in GROUPS:
        answer = await api.post("sessions", f"/v1/programs/{PROGRAM}/groups", json={
            **group, "clinician_id": "clin-g", "start_time": "09:00"})
        assert answer.status_code == 201, answer.text
        assert answer.json()["time_zone"] == "America/Chicago"
    listed = await api.get("sessions", f"/v1/programs/{PROGRAM}/groups")
    assert [g["group_id"] for g in listed.json()] == [g["group_id"] for g in GROUPS]
    return PROGRAM


async def schedule_of(api: Api, patient_id: str) -> list[dict[str, Any]]:
    async def scheduled() -> bool:
        answer = await api.get("sessions", f"/v1/patients/{patient_id}/sessions")
        return answer.status_code == 200 and bool(answer.json())

    await eventually(scheduled, timeout=15)
    sessions: list[dict[str, Any]] = (
        await api.get("sessions", f"/v1/patients/{patient_id}/sessions")).json()
    return sessions


async def attend(api: Api, session: dict[str, Any], patient_id: str, status: str,
                 late_minutes: int = 0) -> Any:
    return await api.post("sessions", f"/v1/sessions/{session['session_id']}/attendance",
                          json={"patient_id": patient_id, "status": status,
                                "late_minutes": late_minutes})


async def test_an_admission_is_scheduled_on_distinct_weekdays_in_the_site_time_zone(
    north: Site, program: str
) -> None:
    api = north.api
    first = await admit(api, program_id=program, start_date=START, days_per_week=3,
                        planned_weeks=8, clinician_id="clin-7")
    schedule = await schedule_of(api, first)
    groups = [s for s in schedule if s["kind"] == "group"]
    individual = [s for s in schedule if s["kind"] == "individual"]
    assert (len(groups), len(individual)) == (3 * 8, 8)
    assert {s["group_id"] for s in groups} == {"sess-e2e-mon", "sess-e2e-tue", "sess-e2e-wed"}
    assert schedule[0]["starts_at"].startswith(f"{START}T15:00:00")  # 09:00 CST
    assert individual[0]["starts_at"].startswith(f"{START}T18:00:00")  # after the group
    assert individual[0]["clinician_id"] == "clin-7"
    assert {s["status"] for s in schedule} == {"scheduled"}
    enrollment = (await api.get("sessions", f"/v1/patients/{first}")).json()
    assert (enrollment["status"], enrollment["weekly_hours_target"]) == ("scheduled", 9)


async def test_a_full_group_waitlists_the_next_patient(north: Site) -> None:
    api = north.api
    created = await api.post("sessions", "/v1/programs",
                             json={"program_id": SMALL_PROGRAM, "name": "Small IOP"})
    assert created.status_code == 201, created.text
    for group_id, weekday, capacity in (("sess-e2e-small-mon", 0, 1),
                                        ("sess-e2e-small-tue", 1, 5),
                                        ("sess-e2e-small-wed", 2, 5)):
        answer = await api.post("sessions", f"/v1/programs/{SMALL_PROGRAM}/groups", json={
            "group_id": group_id, "modality": "group_therapy", "clinician_id": "clin-g",
            "weekday": weekday, "start_time": "13:30", "capacity": capacity})
        assert answer.status_code == 201, answer.text
    first = await admit(api, program_id=SMALL_PROGRAM, start_date=START, days_per_week=3,
                        planned_weeks=8)
    mine = await schedule_of(api, first)
    assert {s["status"] for s in mine} == {"scheduled"}
    second = await admit(api, program_id=SMALL_PROGRAM, start_date=START, days_per_week=3,
                         planned_weeks=8)
    theirs = await schedule_of(api, second)
    waitlisted = {s["group_id"] for s in theirs if s["status"] == "waitlisted"}
    assert waitlisted == {"sess-e2e-small-mon"}
    assert sum(s["status"] == "waitlisted" for s in theirs) == 8
    shared = {s["session_id"] for s in mine if s["kind"] == "group"} & {
        s["session_id"] for s in theirs}
    assert len(shared) == 3 * 8  # a group occurrence is one session for all its patients
    monday = next(s for s in theirs if s["status"] == "waitlisted")
    refused = await attend(api, monday, second, "attended")
    assert refused.status_code == 409


async def test_attendance_hours_and_outreach_after_two_absences(
    north: Site, program: str
) -> None:
    api = north.api
    patient_id = await admit(api, program_id=program, start_date=START, days_per_week=3,
                             planned_weeks=8)
    monday_group, monday_individual, tuesday, wednesday, *_ = await schedule_of(api, patient_id)

    attended = await attend(api, monday_group, patient_id, "attended")
    assert attended.status_code == 201, attended.text
    assert attended.json()["credited_minutes"] == 180
    late = await attend(api, monday_individual, patient_id, "late", 15)
    assert late.status_code == 201, late.text
    assert (late.json()["status"], late.json()["credited_minutes"]) == ("late", 45)
    assert (await attend(api, monday_individual, patient_id, "late", 15)).status_code == 200
    changed = await attend(api, monday_individual, patient_id, "absent")
    assert changed.status_code == 409
    assert changed.headers["content-type"] == "application/problem+json"

    invalid = await attend(api, tuesday, patient_id, "late", 0)
    assert invalid.status_code == 422
    assert [e["pointer"] for e in invalid.json()["errors"]] == ["#/late_minutes"]
    unknown = await api.post("sessions", f"/v1/sessions/{uuid.uuid4()}/attendance",
                             json={"patient_id": patient_id, "status": "attended"})
    assert unknown.status_code == 404

    for session in (tuesday, wednesday):
        assert (await attend(api, session, patient_id, "absent")).status_code == 201
    report = (await api.get("sessions", f"/v1/patients/{patient_id}/attendance")).json()
    assert report["outreach"] == [{"consecutive_absences": 2,
                                   "last_missed_session_id": wednesday["session_id"]}]
    assert report["consecutive_absences"] == 2
    week1 = report["weeks"][0]
    assert (week1["week_start"], week1["finished"], week1["below_minimum"], week1["flagged"]) == (
        START.isoformat(), True, True, True)
    statuses = {s["session_id"]: s["status"] for s in report["sessions"]}
    assert [statuses[s["session_id"]] for s in (tuesday, wednesday)] == ["absent", "absent"]


async def test_an_admission_to_a_program_without_groups_awaits_a_schedule(north: Site) -> None:
    api = north.api
    created = await api.post("sessions", "/v1/programs",
                             json={"program_id": EMPTY_PROGRAM, "name": "No groups yet"})
    assert created.status_code in (200, 201), created.text
    patient_id = await admit(api, program_id=EMPTY_PROGRAM, start_date=START)

    async def enrolled() -> bool:
        return (await api.get("sessions", f"/v1/patients/{patient_id}")).status_code == 200

    await eventually(enrolled, timeout=15)
    enrollment = (await api.get("sessions", f"/v1/patients/{patient_id}")).json()
    assert (enrollment["status"], enrollment["weekly_hours_target"]) == ("awaiting_schedule", 12)
    assert (await api.get("sessions", f"/v1/patients/{patient_id}/sessions")).json() == []


async def enrolled(api: Api, patient_id: str) -> dict[str, Any]:
    async def known() -> bool:
        return (await api.get("sessions", f"/v1/patients/{patient_id}")).status_code == 200

    await eventually(known, timeout=15)
    enrollment: dict[str, Any] = (await api.get("sessions", f"/v1/patients/{patient_id}")).json()
    return enrollment


async def test_groups_added_after_an_admission_schedule_the_waiting_patient(
    north: Site,
) -> None:
    api = north.api
    created = await api.post("sessions", "/v1/programs",
                             json={"program_id": LATE_PROGRAM, "name": "Groups come later"})
    assert created.status_code == 201, created.text
    patient_id = await admit(api, program_id=LATE_PROGRAM, start_date=START, days_per_week=3,
                             planned_weeks=8, clinician_id="clin-5")
    assert (await enrolled(api, patient_id))["status"] == "awaiting_schedule"

    path = f"/v1/programs/{LATE_PROGRAM}/groups"
    thursday = {"group_id": "sess-e2e-late-thu", "modality": "cbt", "clinician_id": "clin-g",
                "weekday": 3, "start_time": "10:00", "capacity": 6}
    added = await api.post("sessions", path, json=thursday,
                           headers={"Idempotency-Key": f"late-thu-{patient_id}"})
    assert added.status_code == 201, added.text
    # One 3-hour day and counseling make 4 hours: no IOP week, refused and shown.
    refused = await enrolled(api, patient_id)
    assert refused["status"] == "schedule_refused"
    assert refused["schedule_refusal"]["planned_weekly_hours"] == 4.0
    assert (await api.get("sessions", f"/v1/patients/{patient_id}/sessions")).json() == []

    # Retried, with or without the key: still nothing, nothing recorded twice.
    for headers in ({"Idempotency-Key": f"late-thu-{patient_id}"}, {}):
        again = await api.post("sessions", path, json=thursday, headers=headers)
        assert again.status_code in (200, 201), again.text
    assert (await enrolled(api, patient_id))["status"] == "schedule_refused"

    # Monday makes 7 hours, still refused; Tuesday makes the third day (10 hours): the
    # patient is scheduled on Monday, Tuesday and Thursday, and Wednesday is not needed.
    for group_id, weekday in (("sess-e2e-late-mon", 0), ("sess-e2e-late-tue", 1),
                              ("sess-e2e-late-wed", 2)):
        answer = await api.post("sessions", path, json={
            **thursday, "group_id": group_id, "weekday": weekday})
        assert answer.status_code == 201, answer.text
    schedule = (await api.get("sessions", f"/v1/patients/{patient_id}/sessions")).json()
    groups = {s["group_id"] for s in schedule if s["kind"] == "group"}
    assert groups == {"sess-e2e-late-mon", "sess-e2e-late-tue", "sess-e2e-late-thu"}
    assert len(schedule) == 3 * 8 + 8
    assert {s["status"] for s in schedule} == {"scheduled"}
    individual = next(s for s in schedule if s["kind"] == "individual")
    assert individual["clinician_id"] == "clin-5"
    scheduled = await enrolled(api, patient_id)
    assert (scheduled["status"], scheduled["schedule_refusal"]) == ("scheduled", None)


def waitlisted(schedule: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in schedule if s["status"] == "waitlisted"]


async def test_a_place_freed_by_a_discharge_goes_to_the_next_patient_on_the_waitlist(
    north: Site,
) -> None:
    api = north.api
    groups = await set_up_program(api, FREED_PROGRAM, groups=WEEKLY_GROUPS[:3], capacity=1)

    async def admitted() -> tuple[str, list[dict[str, Any]]]:
        patient_id = await admit(api, program_id=FREED_PROGRAM, start_date=START,
                                 days_per_week=3, planned_weeks=8)
        return patient_id, await schedule_of(api, patient_id)

    # One at a time, so the waitlist's order is the order of admission.
    (leaving, held), (next_up, waiting), (later, _) = [await admitted() for _ in range(3)]
    assert {s["status"] for s in held} == {"scheduled"}
    assert {s["group_id"] for s in waitlisted(waiting)} == set(groups)
    assert len(waitlisted(waiting)) == 3 * 8

    await drafted_plan(api, leaving)
    discharged = ok(await api.post("plans", f"/v1/patients/{leaving}/discharge", json={
        "outcome": "transferred", "effective_on": START.isoformat(), "clinician_id": "clin-7"}))
    assert discharged["plan_status"] == "discharged"

    promoted = await wait_for(lambda: sessions_of(api, next_up),
                              lambda schedule: len(waitlisted(schedule)) == 1)
    (still_waiting,) = waitlisted(promoted)  # the first Monday: still the leaver's last day
    assert (still_waiting["group_id"], still_waiting["local_date"]) == (
        groups[0], START.isoformat())
    left = await sessions_of(api, leaving)
    cancelled = {s["session_id"] for s in left if s["status"] == "cancelled"}
    assert {s["status"] for s in left if s["local_date"] > START.isoformat()} == {"cancelled"}
    assert [s["status"] for s in left if s["local_date"] == START.isoformat()] == [
        "scheduled", "scheduled"]  # the group and the individual session on the day itself
    taken = {s["session_id"] for s in promoted if s["kind"] == "group"
             and s["status"] == "scheduled"}
    assert len(taken) == 3 * 8 - 1 and taken <= cancelled
    assert len(waitlisted(await sessions_of(api, later))) == 3 * 8  # one place each, taken
    ended = await enrolled(api, leaving)
    assert (ended["status"], ended["ended_on"], ended["end_reason"]) == (
        "ended", START.isoformat(), "Discharged")


@asynccontextmanager
async def sessions_topic(bootstrap: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A reader of sessions' topic from its current end: only what happens from now on."""
    topic = topic_of("sessions")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                **admin_options(bootstrap))
    await consumer.start()
    try:
        spec = next(t for t in all_topics() if t.name == topic)
        partitions = [TopicPartition(topic, p) for p in range(spec.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for partition in partitions:
            await consumer.position(partition)
        yield consumer
    finally:
        await consumer.stop()


async def events_of(consumer: AIOKafkaConsumer, patient_id: str, event_type: str,
                    timeout: float = 15) -> list[EventEnvelope]:
    found: list[EventEnvelope] = []
    async with asyncio.timeout(timeout):
        while not found:
            batches = await consumer.getmany(timeout_ms=500)
            envelopes = [from_record(r.value or b"", list(r.headers))
                         for records in batches.values() for r in records]
            found = [e for e in envelopes if e.subject == patient_id and e.type == event_type]
    return found


async def test_a_phq9_with_item9_raises_a_risk_signal_and_bad_items_are_refused(
    north: Site, program: str
) -> None:
    api = north.api
    patient_id = await admit(api, program_id=program, start_date=START, days_per_week=3,
                             planned_weeks=8, clinician_id="clin-9")
    await schedule_of(api, patient_id)
    path = f"/v1/patients/{patient_id}/outcomes"

    wrong_count = await api.post("sessions", path, json={
        "instrument": "phq9", "items": [1] * 8, "measured_on": WEEK_2})
    assert wrong_count.status_code == 422
    assert wrong_count.headers["content-type"] == "application/problem+json"
    assert [e["pointer"] for e in wrong_count.json()["errors"]] == ["#/items"]
    out_of_range = await api.post("sessions", path, json={
        "instrument": "phq9", "items": [1, 1, 1, 4, 1, 1, 1, 1, 1], "measured_on": WEEK_2})
    assert [e["pointer"] for e in out_of_range.json()["errors"]] == ["#/items/3"]
    too_early = await api.post("sessions", path, json={
        "instrument": "phq9", "items": [1] * 9,
        "measured_on": (START - timedelta(days=3)).isoformat()})
    assert [e["pointer"] for e in too_early.json()["errors"]] == ["#/measured_on"]

    async with sessions_topic(api.stack.kafka_bootstrap) as topic:
        measured = await api.post("sessions", path, json={
            "instrument": "phq9", "items": [2, 2, 1, 1, 1, 1, 1, 1, 1],
            "measured_on": WEEK_2})
        assert measured.status_code == 201, measured.text
        body = measured.json()
        assert (body["total"], body["item9"], body["band"], body["program_week"]) == (
            11, 1, "moderate", 2)
        assert body["risk_signals"] == ["phq9_item9"]
        (raised,) = await events_of(topic, patient_id, "iopnet.RiskSignalRaised")
    assert raised.data["signal"] == "phq9_item9"
    assert raised.data["clinician_id"] == "clin-9"
    assert raised.siteid == "site-north"

    outcomes = (await api.get("sessions", path)).json()
    assert [(m["total"], m["risk_signals"]) for m in outcomes["measures"]] == [
        (11, ["phq9_item9"])]


async def test_another_site_sees_none_of_it(north: Site, south: Site, program: str) -> None:
    patient_id = await admit(north.api, program_id=program, start_date=START, days_per_week=3,
                             planned_weeks=8)
    session = (await schedule_of(north.api, patient_id))[0]
    for path in (f"/v1/patients/{patient_id}", f"/v1/patients/{patient_id}/attendance",
                 f"/v1/patients/{patient_id}/outcomes"):
        assert (await south.api.get("sessions", path)).status_code == 404
    assert (await attend(south.api, session, patient_id, "absent")).status_code == 404
    assert PROGRAM not in [p["program_id"]
                           for p in (await south.api.get("sessions", "/v1/programs")).json()]


SHORT_PROGRAM = "sess-e2e-short"


async def test_a_schedule_under_9_hours_a_week_is_refused_and_shown(north: Site) -> None:
    """Three 2-hour groups and weekly counseling make 7 hours: not an IOP (42 CFR 410.44)."""
    api = north.api
    ok(await api.post("sessions", "/v1/programs",
                      json={"program_id": SHORT_PROGRAM, "name": "Too short"}), 201)
    for weekday in range(3):
        ok(await api.post("sessions", f"/v1/programs/{SHORT_PROGRAM}/groups", json={
            "group_id": f"{SHORT_PROGRAM}-{weekday}", "modality": "group_therapy",
            "clinician_id": "clin-g", "weekday": weekday, "start_time": "09:00",
            "duration_minutes": 120, "capacity": 8}), 201)
    patient_id = await admit(api, program_id=SHORT_PROGRAM, start_date=START, days_per_week=3)

    refused = await wait_for(lambda: api.get("sessions", f"/v1/patients/{patient_id}"),
                             lambda a: a.status_code == 200
                             and a.json()["status"] == "schedule_refused")
    assert refused.json()["schedule_refusal"] == {
        "level": "iop", "days_per_week": 3, "planned_weekly_hours": 7.0, "minimum_hours": 9.0,
        "below_hours": 20.0}
    assert await sessions_of(api, patient_id) == []

    # Making it again with three days is refused, naming the field, with the hours reached.
    schedule = f"/v1/patients/{patient_id}/schedule"
    change = {"days_per_week": 3, "clinician_id": "clin-7", "reason": "tried three days again"}
    refused_again = await api.put("sessions", schedule, json=change)
    assert refused_again.status_code == 422, refused_again.text
    problem = refused_again.json()
    assert problem["errors"][0]["pointer"] == "#/days_per_week"
    assert "reaches 7 hours" in problem["detail"]

    # A fourth 2-hour day makes 9 hours: four days a week are scheduled.
    ok(await api.post("sessions", f"/v1/programs/{SHORT_PROGRAM}/groups", json={
        "group_id": f"{SHORT_PROGRAM}-3", "modality": "group_therapy", "clinician_id": "clin-g",
        "weekday": 3, "start_time": "09:00", "duration_minutes": 120, "capacity": 8}), 201)
    four = await api.put("sessions", schedule, json={**change, "days_per_week": 4,
                                                    "reason": "four days reach 9 hours"})
    assert four.status_code == 200, four.text
    assert (four.json()["status"], four.json()["days_per_week"]) == ("scheduled", 4)
    sessions = await sessions_of(api, patient_id)
    assert len({s["group_id"] for s in sessions if s["kind"] == "group"}) == 4
