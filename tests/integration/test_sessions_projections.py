"""Sessions on a real Postgres: its reactions to others' events (enrollment with capacity,
plan revisions, the end of the program, a transfer) and the calendar's weekly review.

Others' events go through the consumer's projection as the worker runs it (projectors,
then reactions), and programs are made with the command handlers the API calls."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import time, timedelta

import asyncpg
import pytest

from iopnet.catalog import (
    Modality,
    PatientTransferred,
    PlanDrafted,
    PlannedIntervention,
    PlanRevised,
    RevisionReason,
    SteppedDown,
)
from iopnet.topics import topic_of
from services.sessions import store, weekly_review
from services.sessions.domain import Group
from tests.conftest import FreshDatabase
from tests.integration.sessions_helpers import (
    SITE,
    START,
    add_group_and_schedule,
    admission,
    admitted,
    at_utc,
    define_program,
    interventions,
    on,
    project,
    sessions_database,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(fresh_database: FreshDatabase) -> AsyncIterator[asyncpg.Pool]:
    pool = await sessions_database(fresh_database)
    yield pool
    await pool.close()


async def statuses(pool: asyncpg.Pool, patient_id: str) -> dict[str, int]:
    rows = await pool.fetch("SELECT modality || ':' || status AS what, count(*) AS n"
                            " FROM patient_sessions WHERE patient_id = $1 GROUP BY 1", patient_id)
    return {row["what"]: row["n"] for row in rows}


async def test_an_admission_schedules_once_and_a_full_group_waitlists(pool: asyncpg.Pool
                                                                      ) -> None:
    first = await admitted(pool)
    assert await statuses(pool, first) == {
        "group_therapy:scheduled": 8, "psychoeducation:scheduled": 8,
        "mindfulness:scheduled": 8, "individual_counseling:scheduled": 8}
    version = await pool.fetchval("SELECT version FROM event_streams WHERE stream_id = $1",
                                  f"enrollment-{first}")
    assert version == 2  # the terms (private), then one SessionsScheduled of 32 sessions
    # A second PatientAdmitted (e.g. republished under a new id) schedules nothing more.
    await project(pool, admission(first), "intake")
    assert await pool.fetchval("SELECT version FROM event_streams WHERE stream_id = $1",
                               f"enrollment-{first}") == 2
    [published] = await pool.fetch("SELECT envelope FROM outbox WHERE topic = $1",
                                   topic_of("sessions"))
    assert published["envelope"]["type"] == "iopnet.SessionsScheduled"
    assert len(published["envelope"]["data"]["sessions"]) == 32

    second = await admitted(pool)
    assert (await statuses(pool, second))["group_therapy:waitlisted"] == 8
    enrollment = await store.find_enrollment(pool, second)  # type: ignore[arg-type]
    assert enrollment is not None
    assert (enrollment["status"], enrollment["time_zone"], enrollment["weekly_hours_target"]) == (
        "scheduled", "America/Chicago", 9)


async def test_a_revision_drops_and_adds_modalities_from_now_on(pool: asyncpg.Pool) -> None:
    patient_id = await admitted(pool)
    drafted = PlanDrafted(
        patient_id=patient_id, site_id=SITE, plan_id="plan-1", problem_codes=["depression"],
        interventions=interventions(group_therapy=3, psychoeducation=1, mindfulness=1,
                                    individual_counseling=1),
        target_date=on(56), clinician_id="clin-7")
    await project(pool, drafted, "plans")
    revised = PlanRevised(
        patient_id=patient_id, site_id=SITE, plan_id="plan-1", revision=2,
        changes=["removed:I3", "added:I5"], reason=RevisionReason.LACK_OF_PROGRESS,
        interventions=[*interventions(group_therapy=3, psychoeducation=1,
                                      individual_counseling=1),
                       PlannedIntervention(intervention_id="I5",
                                           modality=Modality.SKILL_BUILDING,
                                           sessions_per_week=1)])
    now = at_utc(16, 18)  # Wednesday of week 3, noon in Chicago
    await project(pool, revised, "plans", at=now)
    found = await statuses(pool, patient_id)
    assert (found["mindfulness:scheduled"], found["mindfulness:cancelled"]) == (3, 5)
    assert found["skill_building:scheduled"] == 6  # the Thursdays of weeks 3 to 8
    plan = await store.plan_of(pool, patient_id)  # type: ignore[arg-type]
    assert plan is not None and Modality.MINDFULNESS not in plan


async def test_stepping_down_cancels_every_session_after_the_effective_date(
    pool: asyncpg.Pool,
) -> None:
    patient_id = await admitted(pool)
    stepped = SteppedDown(patient_id=patient_id, site_id=SITE, effective_on=on(37),
                          aftercare=["relapse_prevention_plan"], follow_up_within_days=7)
    await project(pool, stepped, "plans")
    cancelled = await pool.fetchval(
        "SELECT count(*) FROM patient_sessions WHERE patient_id = $1 AND status = 'cancelled'",
        patient_id)
    kept = await pool.fetchval(
        "SELECT max(starts_at) FROM patient_sessions WHERE patient_id = $1"
        " AND status <> 'cancelled'", patient_id)
    assert kept == at_utc(37, 15)  # Wednesday's group stays
    assert cancelled == 8  # weeks 7 and 8: three groups and one individual session each
    event = await pool.fetchval(
        "SELECT envelope FROM events WHERE event_type = 'iopnet.SessionsCancelled'"
        " AND stream_id = $1", f"enrollment-{patient_id}")
    assert event["data"]["reason"] == "SteppedDown"
    assert len(event["data"]["session_ids"]) == cancelled
    enrollment = await store.find_enrollment(pool, patient_id)  # type: ignore[arg-type]
    assert enrollment is not None
    assert (enrollment["status"], enrollment["ended_on"]) == ("ended", on(37))


async def test_a_transfer_moves_the_current_enrollment(pool: asyncpg.Pool) -> None:
    patient_id = await admitted(pool)
    moved = PatientTransferred(patient_id=patient_id, site_id="site-s", from_site_id=SITE)
    await project(pool, moved, "intake")
    assert await pool.fetchval("SELECT site_id FROM enrollments WHERE patient_id = $1",
                               patient_id) == "site-s"
    # The old site's sessions still ahead (all of them: the program starts later) are
    # cancelled there; what the enrollment records next is the new site's.
    await project(pool, SteppedDown(patient_id=patient_id, site_id="site-s", effective_on=on(37),
                                    aftercare=[], follow_up_within_days=7), "plans")
    sites = await pool.fetch(
        "SELECT event_type, envelope->>'siteid' AS site, envelope->'data'->>'reason' AS reason"
        " FROM events WHERE stream_id = $1 AND stream_version > 2 ORDER BY stream_version",
        f"enrollment-{patient_id}")
    assert [(r["event_type"], r["site"], r["reason"]) for r in sites] == [
        ("iopnet.SessionsCancelled", SITE, "PatientTransferred"),
        ("iopnet.EnrollmentTransferred", "site-s", None),
        ("iopnet.EnrollmentEnded", "site-s", "SteppedDown")]


# Patients admitted before their program had groups ----------------------------------------

async def stream_versions(pool: asyncpg.Pool, *patient_ids: str) -> list[int | None]:
    return [await pool.fetchval("SELECT version FROM event_streams WHERE stream_id = $1",
                                f"enrollment-{p}") for p in patient_ids]


async def test_groups_added_later_schedule_the_patients_waiting_first_come_first_served(
    pool: asyncpg.Pool,
) -> None:
    await define_program(pool, "new", "Adult IOP, second cohort")
    waiting = []
    for _ in range(2):
        patient_id = str(uuid.uuid4())
        admitted_to_new = admission(patient_id).model_copy(update={"program_id": "new"})
        await project(pool, admitted_to_new, "intake")
        waiting.append(patient_id)
    first, second = waiting
    assert await statuses(pool, first) == {}
    assert await stream_versions(pool, first, second) == [1, 1]  # the terms only

    # One group, then two: no IOP week yet (4 hours, then 7): refused, and said each time.
    monday = Group(SITE, "new", "n-mon", Modality.GROUP_THERAPY, "clin-1", 0, time(9), 180, 1)
    assert await add_group_and_schedule(pool, monday)
    assert not await add_group_and_schedule(pool, monday)  # a retry says nothing new
    tuesday = Group(SITE, "new", "n-tue", Modality.CBT, "clin-2", 1, time(9), 180, 8)
    assert await add_group_and_schedule(pool, tuesday)
    assert await statuses(pool, first) == {}
    refused = await store.find_enrollment(pool, first)  # type: ignore[arg-type]
    assert refused is not None and refused["status"] == "schedule_refused"
    assert refused["schedule_refusal"]["planned_weekly_hours"] == 7.0
    assert await stream_versions(pool, first, second) == [3, 3]

    # The third day makes 10 hours: both are scheduled, the first enrolled first.
    wednesday = Group(SITE, "new", "n-wed", Modality.MINDFULNESS, "clin-3", 2, time(9), 180,
                      8)
    assert await add_group_and_schedule(pool, wednesday)
    assert await statuses(pool, first) == {
        "group_therapy:scheduled": 8, "cbt:scheduled": 8, "mindfulness:scheduled": 8,
        "individual_counseling:scheduled": 8}
    assert await statuses(pool, second) == {
        "group_therapy:waitlisted": 8, "cbt:scheduled": 8, "mindfulness:scheduled": 8,
        "individual_counseling:scheduled": 8}
    enrollment = await store.find_enrollment(pool, first)  # type: ignore[arg-type]
    assert enrollment is not None and enrollment["status"] == "scheduled"
    assert enrollment["schedule_refusal"] is None
    events = await pool.fetch("SELECT envelope FROM events WHERE stream_id = $1"
                              " ORDER BY stream_version", f"enrollment-{first}")
    assert [e["envelope"]["type"] for e in events][:3] == [
        "iopnet.EnrollmentOpened", "iopnet.ScheduleRefused", "iopnet.ScheduleRefused"]
    outbox = await pool.fetchval("SELECT count(*) FROM outbox WHERE topic = $1",
                                 topic_of("sessions"))
    assert outbox == 2 * (2 + 1)  # two refusals and a schedule each


# The waitlist ---------------------------------------------------------------------------


async def places(pool: asyncpg.Pool, patient_id: str, group_id: str) -> dict[str, str]:
    rows = await pool.fetch("SELECT starts_at, status FROM patient_sessions"
                            " WHERE patient_id = $1 AND group_id = $2", patient_id, group_id)
    return {row["starts_at"].date().isoformat(): row["status"] for row in rows}


async def test_a_place_given_up_on_step_down_goes_to_the_earliest_waitlisted(
    pool: asyncpg.Pool,
) -> None:
    holder, earliest, later = [await admitted(pool) for _ in range(3)]  # g-mon holds one
    assert set((await places(pool, later, "g-mon")).values()) == {"waitlisted"}
    stepped = SteppedDown(patient_id=holder, site_id=SITE, effective_on=on(30),
                          aftercare=["relapse_prevention_plan"], follow_up_within_days=7)
    now = at_utc(35, 16)  # week 6: Monday's group has begun
    await project(pool, stepped, "plans", at=now)

    assert set((await places(pool, holder, "g-mon")).values()) == {"scheduled", "cancelled"}
    promoted = await places(pool, earliest, "g-mon")
    assert [d for d, status in sorted(promoted.items()) if status == "scheduled"] == [
        on(42).isoformat(), on(49).isoformat()]  # not the one that already started
    assert promoted[on(35).isoformat()] == "waitlisted"
    assert set((await places(pool, later, "g-mon")).values()) == {"waitlisted"}
    [promotion] = await pool.fetch(  # both places taken in one event
        "SELECT envelope FROM events WHERE stream_id = $1 AND stream_version > 2"
        " ORDER BY stream_version", f"enrollment-{earliest}")
    assert promotion["envelope"]["type"] == "iopnet.SessionsScheduled"
    taken = promotion["envelope"]["data"]["sessions"]
    assert [s["waitlisted"] for s in taken] == [False] * 2
    assert taken[0]["starts_at"].startswith(f"{on(42)}T15:00:00")
    occupancy = await pool.fetchval(
        "SELECT count(*) FROM patient_sessions WHERE group_id = 'g-mon' AND starts_at > $1"
        " AND status = 'scheduled'", now)
    assert occupancy == 2  # capacity 1, two Mondays left

    # Redelivered: the runner would skip it, but the reaction changes nothing either.
    await project(pool, stepped, "plans", at=now)
    assert await stream_versions(pool, earliest, later) == [3, 2]


async def test_a_place_a_revision_gives_up_goes_to_the_waitlist(pool: asyncpg.Pool) -> None:
    holder, waiting = await admitted(pool), await admitted(pool)
    drafted = PlanDrafted(
        patient_id=holder, site_id=SITE, plan_id="plan-1", problem_codes=["depression"],
        interventions=interventions(group_therapy=1, psychoeducation=1, mindfulness=1,
                                    individual_counseling=1),
        target_date=on(56), clinician_id="clin-7")
    await project(pool, drafted, "plans")
    revised = PlanRevised(
        patient_id=holder, site_id=SITE, plan_id="plan-1", revision=2, changes=["removed:I1"],
        reason=RevisionReason.LACK_OF_PROGRESS,
        interventions=interventions(psychoeducation=1, mindfulness=1, individual_counseling=1))
    now = at_utc(43, 18)  # Tuesday of week 7
    await project(pool, revised, "plans", at=now)
    assert (await places(pool, waiting, "g-mon"))[on(49).isoformat()] == "scheduled"
    assert (await places(pool, waiting, "g-mon"))[on(42).isoformat()] == "waitlisted"
    assert (await places(pool, holder, "g-mon"))[on(49).isoformat()] == "cancelled"


async def flags(pool: asyncpg.Pool, patient_id: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT envelope->'data'->>'week_starting' AS week FROM events"
        " WHERE stream_id = $1 AND event_type LIKE '%.AttendanceBelowMinimum'"
        " ORDER BY stream_version", f"enrollment-{patient_id}")
    return [row["week"] for row in rows]


async def test_the_weekly_review_flags_a_week_over_with_nothing_recorded_once(
        pool: asyncpg.Pool) -> None:
    patient_id = await admitted(pool)
    sunday = at_utc(6, 20)  # Sunday afternoon in Chicago
    assert await weekly_review.review_due_enrollments(pool, sunday) == 0
    monday = at_utc(7, 15)
    assert await weekly_review.review_due_enrollments(pool, monday) == 1
    assert await flags(pool, patient_id) == [START.isoformat()]
    assert await pool.fetchval(  # published to the clinicians' systems like any other
        "SELECT count(*) FROM outbox WHERE topic = $1 AND envelope->>'type' LIKE $2",
        topic_of("sessions"), "%AttendanceBelowMinimum") == 1
    # Once a day at most, and a week is flagged once.
    assert await weekly_review.review_due_enrollments(pool, monday) == 0
    tuesday = at_utc(8, 15)
    assert await weekly_review.review_due_enrollments(pool, tuesday) == 1
    assert await flags(pool, patient_id) == [START.isoformat()]
    # After the program's last day, the last review has nothing more to do.
    after = at_utc(63, 15)
    assert await weekly_review.review_due_enrollments(pool, after) == 1
    assert len(await flags(pool, patient_id)) == 8
    assert await weekly_review.review_due_enrollments(pool, after + timedelta(days=12)) == 0


async def test_the_weekly_review_leaves_ended_enrollments_alone(pool: asyncpg.Pool) -> None:
    patient_id = await admitted(pool)
    await project(pool, SteppedDown(patient_id=patient_id, site_id=SITE, effective_on=START,
                                    aftercare=[], follow_up_within_days=7), "plans")
    monday = at_utc(7, 15)
    assert await weekly_review.review_due_enrollments(pool, monday) == 0
    assert await flags(pool, patient_id) == []
