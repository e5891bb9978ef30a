"""Completing a schedule once a program has groups, and a waitlisted patient taking a place
that freed up: the enrollment aggregate's rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from iopnet.catalog import DomainEvent, Modality, SessionKind, SessionsScheduled
from services.sessions.domain import (
    Enrollment,
    EnrollmentTerms,
    PlanChange,
    program_schedule,
)
from services.sessions.domain.schedule import Group

pytestmark = pytest.mark.unit

ZONE = "America/Chicago"
START = date(2026, 12, 7)  # a Monday
MON, TUE, WED, THU = (
    Group("site-n", "iop", "g-mon", Modality.GROUP_THERAPY, "clin-1", 0, time(9), 180, 1),
    Group("site-n", "iop", "g-tue", Modality.PSYCHOEDUCATION, "clin-2", 1, time(9), 180, 8),
    Group("site-n", "iop", "g-wed", Modality.MINDFULNESS, "clin-3", 2, time(9), 180, 8),
    Group("site-n", "iop", "g-thu", Modality.SKILL_BUILDING, "clin-4", 3, time(9), 180, 8),
)
GROUPS = [MON, TUE, WED, THU]


def terms(patient_id: str = "p-1", days: int = 3, ended_on: date | None = None
          ) -> EnrollmentTerms:
    return EnrollmentTerms(patient_id=patient_id, site_id="site-n", program_id="iop",
                           clinician_id="clin-7", starts_on=START, days_per_week=days,
                           planned_weeks=8, time_zone=ZONE, ended_on=ended_on)


def admitted(groups: list[Group], occupancy: dict[str, int] | None = None,
             patient_id: str = "p-1", days: int = 3) -> Enrollment:
    t = terms(patient_id, days)
    enrollment = Enrollment(patient_id)
    enrollment.terms = t
    enrollment.schedule(program_schedule(patient_id, t.clinician_id, groups, days, START,
                                         t.ends_on, ZONE), occupancy or {})
    enrollment.mark_saved()
    return enrollment


def recorded(enrollment: Enrollment) -> list[DomainEvent]:
    events = list(enrollment.pending)
    enrollment.mark_saved()
    return events


def test_an_enrollment_awaiting_groups_gets_what_an_admission_would_have_given() -> None:
    enrollment = admitted([])
    assert enrollment.status == "awaiting_schedule"
    missing = enrollment.missing_occurrences(GROUPS, START - timedelta(days=3))
    assert missing == program_schedule("p-1", "clin-7", GROUPS, 3, START, terms().ends_on, ZONE)
    enrollment.schedule_missing(missing, {})
    (schedule,) = recorded(enrollment)  # one decision, one event
    assert isinstance(schedule, SessionsScheduled) and len(schedule.sessions) == 3 * 8 + 8
    assert enrollment.status == "scheduled"
    # The same group added again (a retried request): nothing more.
    assert enrollment.missing_occurrences(GROUPS, START) == []
    enrollment.schedule_missing(missing, {})
    assert recorded(enrollment) == []


def test_groups_added_mid_program_schedule_from_today_on() -> None:
    enrollment = admitted([])
    today = START + timedelta(weeks=3, days=2)  # a Wednesday in week 4
    missing = enrollment.missing_occurrences(GROUPS, today)
    days = {o.starts_at.astimezone(ZoneInfo(ZONE)).date() for o in missing}
    assert min(days) >= today
    # Wednesday's group and individual counseling after it: none on the missed Monday,
    # because the first program day's group anchors individual counseling, as at admission.
    by_group = {g: sum(o.group_id == g for o in missing) for g in ("g-mon", "g-tue", "g-wed")}
    assert by_group == {"g-mon": 4, "g-tue": 4, "g-wed": 5}
    assert sum(o.kind is SessionKind.INDIVIDUAL for o in missing) == 4


def test_a_schedule_short_of_its_days_keeps_its_weekdays_and_adds_the_missing_ones() -> None:
    enrollment = admitted([WED])  # only Wednesday's group existed at admission
    before = dict(enrollment.sessions)
    missing = enrollment.missing_occurrences(GROUPS, START)
    assert {o.group_id for o in missing} == {"g-mon", "g-tue"}  # earliest weekdays first
    assert not any(o.kind is SessionKind.INDIVIDUAL for o in missing)  # already had them
    enrollment.schedule_missing(missing, {missing[0].session_id: 1})  # Monday's first: full
    (schedule,) = recorded(enrollment)
    assert isinstance(schedule, SessionsScheduled) and len(schedule.sessions) == 2 * 8
    assert [s.waitlisted for s in schedule.sessions].count(True) == 1
    assert all(enrollment.sessions[i] == s for i, s in before.items())
    assert enrollment.missing_occurrences([*GROUPS, THU], START) == []


def test_nothing_for_an_ended_or_finished_enrollment() -> None:
    enrollment = admitted([])
    enrollment.terms = terms(ended_on=START + timedelta(days=10))
    assert enrollment.missing_occurrences(GROUPS, START) == []
    enrollment.terms = terms()
    assert enrollment.missing_occurrences(GROUPS, terms().ends_on) == []


def test_a_modality_a_revision_dropped_is_not_offered_again() -> None:
    enrollment = admitted([MON, WED])
    now = datetime(2026, 12, 8, 12, tzinfo=UTC)
    enrollment.adjust_to_plan(PlanChange(frozenset(), frozenset({Modality.MINDFULNESS})), [],
                              {}, now)
    recorded(enrollment)
    missing = enrollment.missing_occurrences(GROUPS, date(2026, 12, 8))
    assert {o.group_id for o in missing} == {"g-tue", "g-thu"}


def test_a_waitlisted_patient_takes_a_freed_place_with_the_same_session() -> None:
    first = admitted([MON, TUE, WED])
    monday = next(s for s in first.schedule_sessions() if s.group_id == "g-mon")
    second = admitted([MON, TUE, WED], {o: 1 for o in [monday.session_id]}, "p-2")
    assert second.sessions[monday.session_id].status == "waitlisted"

    freed = first.cancel_after(START - timedelta(days=1), "Discharged")
    assert len(freed) == 3 * 8  # group places only; individual sessions are no one's place
    assert monday.session_id in freed
    assert second.cancel_after(date(2027, 1, 24), "SteppedDown") == [
        s.session_id for s in second.schedule_sessions()
        if s.kind is SessionKind.GROUP and second.local_day(s) > date(2027, 1, 24)
        and not s.waitlisted]  # a waitlisted session frees no place
    recorded(second)

    assert second.take_places([monday.session_id]) == [monday.session_id]
    (event,) = recorded(second)
    assert isinstance(event, SessionsScheduled)
    (taken,) = event.sessions
    assert not taken.waitlisted
    assert (taken.session_id, taken.starts_at, taken.group_id) == (
        monday.session_id, monday.starts_at, "g-mon")
    place = second.sessions[monday.session_id]
    assert (place.status, place.counts) == ("scheduled", True)
    recorded(first)
    assert second.take_places([monday.session_id]) == []  # already has it
    assert first.take_places([monday.session_id]) == []  # cancelled, never waitlisted
    assert recorded(second) == recorded(first) == []


def test_places_taken_together_are_one_event() -> None:
    mondays = program_schedule("p-0", "clin-7", [MON], 1, START, terms().ends_on, ZONE)
    enrollment = admitted([MON, TUE, WED], {o.session_id: 1 for o in mondays}, "p-2")
    waitlisted = [s.session_id for s in enrollment.schedule_sessions() if s.waitlisted]
    assert len(waitlisted) == 8
    assert enrollment.take_places([*waitlisted[5:], "not-mine", waitlisted[5]]) == (
        waitlisted[5:])
    (event,) = recorded(enrollment)
    assert isinstance(event, SessionsScheduled)
    assert [(s.session_id, s.waitlisted) for s in event.sessions] == [
        (i, False) for i in waitlisted[5:]]


def test_a_replayed_promotion_rebuilds_the_same_schedule() -> None:
    monday_full = program_schedule("p-0", "clin-7", [MON], 1, START, terms().ends_on, ZONE)
    enrollment = Enrollment("p-2")
    enrollment.terms = terms("p-2")
    enrollment.schedule(program_schedule("p-2", "clin-7", GROUPS, 3, START, terms().ends_on,
                                         ZONE), {o.session_id: 1 for o in monday_full})
    waitlisted = [s.session_id for s in enrollment.schedule_sessions() if s.waitlisted]
    assert len(waitlisted) == 8
    assert enrollment.take_places([waitlisted[3]]) == [waitlisted[3]]
    rebuilt = Enrollment.rebuild("p-2", enrollment.pending)
    assert rebuilt.sessions == enrollment.sessions
    assert [s.session_id for s in rebuilt.sessions.values() if s.waitlisted] == (
        waitlisted[:3] + waitlisted[4:])


def test_an_ended_enrollment_takes_no_place() -> None:
    monday = program_schedule("p-0", "clin-7", [MON], 1, START, terms().ends_on, ZONE)[0]
    enrollment = admitted([MON, TUE, WED], {monday.session_id: 1}, "p-2")
    enrollment.terms = terms("p-2", ended_on=START)
    assert not enrollment.may_take_place(monday.session_id)
    assert enrollment.take_places([monday.session_id]) == []
