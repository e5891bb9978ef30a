"""The enrollment aggregate: scheduling with capacity, attendance, outreach, weekly hours,
plan revisions and the end of the program."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from iopnet.catalog import (
    AttendanceBelowMinimum,
    DomainEvent,
    Modality,
    OutreachNeeded,
    PlannedIntervention,
    SessionAttended,
    SessionKind,
    SessionMissed,
    SessionsCancelled,
    SessionScheduled,
    SessionsScheduled,
)
from services.sessions.domain import (
    AttendancePolicy,
    AttendanceStatus,
    Enrollment,
    EnrollmentTerms,
    InvalidAttendance,
    PlanChange,
    SessionsRuleBroken,
    UnknownSession,
    plan_change,
    program_schedule,
)
from services.sessions.domain.schedule import Group

pytestmark = pytest.mark.unit

A, L, X, E = (AttendanceStatus.ATTENDED, AttendanceStatus.LATE, AttendanceStatus.ABSENT,
              AttendanceStatus.EXCUSED)
ZONE = "America/Chicago"
START = date(2026, 12, 7)  # a Monday
POLICY = AttendancePolicy(min_weekly_hours=9, outreach_after_absences=2)
GROUPS = [
    Group("site-n", "iop", "g-mon", Modality.GROUP_THERAPY, "clin-1", 0, time(9), 180, 2),
    Group("site-n", "iop", "g-tue", Modality.PSYCHOEDUCATION, "clin-2", 1, time(9), 180, 2),
    Group("site-n", "iop", "g-wed", Modality.MINDFULNESS, "clin-3", 2, time(9), 180, 2),
    Group("site-n", "iop", "g-thu", Modality.SKILL_BUILDING, "clin-4", 3, time(9), 180, 2),
]


def terms(patient_id: str = "p-1", days: int = 3, weeks: int = 8) -> EnrollmentTerms:
    return EnrollmentTerms(patient_id=patient_id, site_id="site-n", program_id="iop",
                           clinician_id="clin-7", starts_on=START, days_per_week=days,
                           planned_weeks=weeks, time_zone=ZONE, baseline_phq9=16)


def enrolled(occupancy: dict[str, int] | None = None, **kwargs: int) -> Enrollment:
    t = terms(**kwargs)  # type: ignore[arg-type]
    enrollment = Enrollment(t.patient_id)
    enrollment.terms = t
    schedule = program_schedule(t.patient_id, t.clinician_id, GROUPS, t.days_per_week,
                                t.starts_on, t.ends_on, t.time_zone)
    enrollment.schedule(schedule, occupancy or {})
    enrollment.mark_saved()
    return enrollment


def recorded(enrollment: Enrollment) -> list[DomainEvent]:
    events = list(enrollment.pending)
    enrollment.mark_saved()
    return events


def sessions_of(enrollment: Enrollment, kind: SessionKind = SessionKind.GROUP) -> list[str]:
    return [s.session_id for s in enrollment.schedule_sessions() if s.kind is kind]


def test_admission_schedules_its_weeks_in_one_event() -> None:
    enrollment = Enrollment("p-1")
    enrollment.terms = terms()
    schedule = program_schedule("p-1", "clin-7", GROUPS, 3, START, terms().ends_on, ZONE)
    enrollment.schedule(schedule, {})
    (event,) = recorded(enrollment)
    assert isinstance(event, SessionsScheduled) and len(event.sessions) == 3 * 8 + 8
    assert [s.session_id for s in event.sessions] == [o.session_id for o in schedule]
    assert not any(s.waitlisted for s in event.sessions)
    assert enrollment.status == "scheduled"
    enrollment.schedule(schedule, {})  # a redelivered admission
    assert recorded(enrollment) == []


def test_a_stream_of_one_event_a_session_replays_as_its_schedule() -> None:
    """Streams of earlier releases hold one SessionScheduled a session: read alike."""
    enrollment = Enrollment("p-1")
    enrollment.terms = terms()
    enrollment.schedule(program_schedule("p-1", "clin-7", GROUPS, 3, START, terms().ends_on,
                                         ZONE), {})
    (schedule,) = recorded(enrollment)
    assert isinstance(schedule, SessionsScheduled)
    old = [SessionScheduled(site_id=schedule.site_id, patient_id="p-1", **s.model_dump())
           for s in schedule.sessions]
    replayed = Enrollment.rebuild("p-1", old)
    replayed.terms = terms()
    assert replayed.sessions == enrollment.sessions and replayed.version == len(old)
    assert replayed.status == "scheduled"
    first = replayed.schedule_sessions()[0].session_id
    replayed.record_attendance(first, A, 0, POLICY)
    assert replayed.sessions[first].status == "attended"


def test_a_group_occurrence_at_capacity_waitlists_the_patient() -> None:
    full = program_schedule("p-0", "clin-7", GROUPS, 3, START, terms().ends_on, ZONE)[0]
    assert full.kind is SessionKind.GROUP and full.capacity == 2
    enrollment = enrolled({full.session_id: 2})
    session = enrollment.sessions[full.session_id]
    assert session.waitlisted and session.status == "waitlisted"
    others = [s for s in enrollment.sessions.values() if s.session_id != full.session_id]
    assert not any(s.waitlisted for s in others)
    # A waitlisted session counts for nothing and cannot be attended.
    with pytest.raises(SessionsRuleBroken):
        enrollment.record_attendance(full.session_id, A, 0, POLICY)


def test_attendance_credits_minutes_and_is_idempotent() -> None:
    enrollment = enrolled()
    first, second = sessions_of(enrollment)[:2]
    assert enrollment.record_attendance(first, A, 0, POLICY)
    assert enrollment.record_attendance(second, L, 20, POLICY)
    attended, late = recorded(enrollment)
    assert isinstance(attended, SessionAttended) and attended.credited_minutes == 180
    assert attended.attended_on == START
    assert isinstance(late, SessionAttended) and (late.late_minutes, late.credited_minutes) == (
        20, 160)
    assert not enrollment.record_attendance(second, L, 20, POLICY)  # the same again
    assert recorded(enrollment) == []
    with pytest.raises(SessionsRuleBroken):
        enrollment.record_attendance(second, X, 0, POLICY)


def test_invalid_attendance_names_the_field() -> None:
    enrollment = enrolled()
    session = sessions_of(enrollment)[0]
    with pytest.raises(InvalidAttendance) as zero_late:
        enrollment.record_attendance(session, L, 0, POLICY)
    with pytest.raises(InvalidAttendance) as too_late:
        enrollment.record_attendance(session, L, 181, POLICY)
    with pytest.raises(InvalidAttendance) as minutes_when_on_time:
        enrollment.record_attendance(session, A, 5, POLICY)
    assert {e.value.field for e in (zero_late, too_late, minutes_when_on_time)} == {
        "minutes_late"}
    with pytest.raises(UnknownSession):
        enrollment.record_attendance("nope", A, 0, POLICY)


def test_outreach_once_per_streak_of_unexcused_absences() -> None:
    enrollment = enrolled()
    s = sessions_of(enrollment)
    enrollment.record_attendance(s[0], X, 0, POLICY)
    enrollment.record_attendance(s[1], E, 0, POLICY)  # excused: neither counts nor breaks
    assert not any(isinstance(e, OutreachNeeded) for e in recorded(enrollment))
    enrollment.record_attendance(s[2], X, 0, POLICY)
    outreach = [e for e in recorded(enrollment) if isinstance(e, OutreachNeeded)]
    assert [(o.consecutive_absences, o.last_missed_session_id) for o in outreach] == [(2, s[2])]
    enrollment.record_attendance(s[3], X, 0, POLICY)  # the same streak goes on
    assert not any(isinstance(e, OutreachNeeded) for e in recorded(enrollment))
    enrollment.record_attendance(s[4], A, 0, POLICY)
    enrollment.record_attendance(s[5], X, 0, POLICY)
    enrollment.record_attendance(s[6], X, 0, POLICY)  # a new streak
    assert [e.consecutive_absences for e in recorded(enrollment)
            if isinstance(e, OutreachNeeded)] == [2]
    assert enrollment.absence_streak() == 2


def test_a_finished_week_under_the_minimum_is_flagged_once() -> None:
    enrollment = enrolled()
    week1 = [s for s in enrollment.schedule_sessions()
             if enrollment.local_day(s) < START + timedelta(weeks=1)]
    assert len(week1) == 4  # three groups and one individual session
    for session, status in zip(week1, (A, A, X), strict=False):
        enrollment.record_attendance(session.session_id, status, 0, POLICY)
    assert not any(isinstance(e, AttendanceBelowMinimum) for e in recorded(enrollment))
    # Monday 3 + 1, Wednesday 3: 7 h < 9 h
    enrollment.record_attendance(week1[3].session_id, A, 0, POLICY)
    below = [e for e in recorded(enrollment) if isinstance(e, AttendanceBelowMinimum)]
    assert [(b.week_starting, b.hours, b.minimum_hours) for b in below] == [(START, 7.0, 9)]
    week = enrollment.weeks(POLICY)[0]
    assert (week.finished, week.below_minimum, week.flagged, week.hours) == (True, True, True, 7)
    later = sessions_of(enrollment)[5]
    enrollment.record_attendance(later, A, 0, POLICY)
    assert not any(isinstance(e, AttendanceBelowMinimum) for e in recorded(enrollment))


def test_a_week_is_finished_once_a_later_week_is_recorded() -> None:
    enrollment = enrolled()
    week2_first = sessions_of(enrollment)[3]
    enrollment.record_attendance(week2_first, A, 0, POLICY)
    below = [e for e in recorded(enrollment) if isinstance(e, AttendanceBelowMinimum)]
    assert [(b.week_starting, b.hours) for b in below] == [(START, 0)]


def test_the_calendar_closes_a_week_whose_attendance_was_never_recorded() -> None:
    enrollment = enrolled()
    week1 = [s for s in enrollment.schedule_sessions()
             if enrollment.local_day(s) < START + timedelta(weeks=1)]
    enrollment.record_attendance(week1[0].session_id, A, 0, POLICY)  # 3 h, then nothing
    recorded(enrollment)
    # Sunday evening in Chicago is Monday in UTC: the week is not over there yet.
    sunday_night = datetime(2026, 12, 14, 3, 0, tzinfo=UTC)
    enrollment.close_past_weeks(sunday_night, POLICY)
    assert recorded(enrollment) == []
    assert not enrollment.weeks(POLICY, date(2026, 12, 13))[0].finished
    monday = datetime(2026, 12, 14, 15, 0, tzinfo=UTC)
    enrollment.close_past_weeks(monday, POLICY)
    below = [e for e in recorded(enrollment) if isinstance(e, AttendanceBelowMinimum)]
    assert [(b.week_starting, b.hours, b.minimum_hours) for b in below] == [(START, 3.0, 9)]
    enrollment.close_past_weeks(monday + timedelta(hours=1), POLICY)
    assert recorded(enrollment) == []


def test_the_calendar_flags_no_week_twice_nor_one_at_the_minimum() -> None:
    enrollment = enrolled()
    for session, status in zip(enrollment.schedule_sessions()[:8], (A, A, A, X, A, A, A, A),
                               strict=True):  # week 1: 3 + 1 + 3 + 0 = 7 h, week 2: 10 h
        enrollment.record_attendance(session.session_id, status, 0, POLICY)
    assert len([e for e in recorded(enrollment) if isinstance(e, AttendanceBelowMinimum)]) == 1
    enrollment.close_past_weeks(datetime(2026, 12, 21, 15, 0, tzinfo=UTC), POLICY)
    assert recorded(enrollment) == []


def test_the_calendar_flags_nothing_while_no_session_was_offered() -> None:
    waiting = Enrollment("p-2")
    waiting.terms = terms("p-2")
    waiting.close_past_weeks(datetime(2027, 3, 1, tzinfo=UTC), POLICY)
    assert recorded(waiting) == []


def test_the_aggregate_rebuilds_from_its_events() -> None:
    enrollment = Enrollment("p-1")
    enrollment.terms = terms()
    enrollment.schedule(program_schedule("p-1", "clin-7", GROUPS, 3, START, terms().ends_on,
                                         ZONE), {})
    s = sessions_of(enrollment)
    for session in s[:3]:
        enrollment.record_attendance(session, X, 0, POLICY)
    enrollment.measure_phq9("m-1", [1] * 8 + [2], START + timedelta(days=7))
    rebuilt = Enrollment.rebuild("p-1", enrollment.pending)
    rebuilt.terms = terms()
    assert rebuilt.sessions == enrollment.sessions
    assert rebuilt.flags == enrollment.flags
    assert rebuilt.measures == enrollment.measures
    assert rebuilt.measure_signals == enrollment.measure_signals
    rebuilt.record_attendance(s[3], X, 0, POLICY)  # the streak already had its outreach
    assert not any(isinstance(e, OutreachNeeded) for e in rebuilt.pending)


def test_the_end_of_the_program_cancels_what_is_still_ahead() -> None:
    enrollment = enrolled()
    s = enrollment.schedule_sessions()
    enrollment.record_attendance(s[0].session_id, A, 0, POLICY)
    later_attended = s[10]
    enrollment.record_attendance(later_attended.session_id, A, 0, POLICY)
    recorded(enrollment)
    effective = enrollment.local_day(s[4])
    enrollment.cancel_after(effective, "SteppedDown")
    (cancelled,) = recorded(enrollment)
    assert isinstance(cancelled, SessionsCancelled) and cancelled.reason == "SteppedDown"
    expected = [x.session_id for x in s if enrollment.local_day(x) > effective
                and x.session_id != later_attended.session_id]
    assert cancelled.session_ids == expected
    assert enrollment.sessions[s[4].session_id].status == "scheduled"
    assert enrollment.sessions[later_attended.session_id].status == "attended"
    with pytest.raises(SessionsRuleBroken):
        enrollment.record_attendance(expected[0], A, 0, POLICY)
    enrollment.cancel_after(effective, "Discharged")
    assert recorded(enrollment) == []


def plan(*entries: tuple[str, Modality, int]) -> list[PlannedIntervention]:
    return [PlannedIntervention(intervention_id=i, modality=m, sessions_per_week=n)
            for i, m, n in entries]


def test_a_revision_cancels_a_dropped_modality_and_schedules_an_added_group() -> None:
    enrollment = enrolled()  # Monday group therapy, Tuesday psychoeducation, Wednesday
    now = datetime(2026, 12, 16, 12, tzinfo=UTC)  # week 2, Wednesday
    previous = {Modality.GROUP_THERAPY: 3, Modality.PSYCHOEDUCATION: 1,
                Modality.MINDFULNESS: 1, Modality.INDIVIDUAL_COUNSELING: 1}
    revised = plan(("I1", Modality.GROUP_THERAPY, 3), ("I4", Modality.PSYCHOEDUCATION, 1),
                   ("I5", Modality.MINDFULNESS, 0), ("I6", Modality.INDIVIDUAL_COUNSELING, 1),
                   ("I8", Modality.SKILL_BUILDING, 1))
    change = plan_change(revised, ["frequency:I5:1->0", "added:I8"], previous)
    assert change == PlanChange(frozenset({Modality.SKILL_BUILDING}),
                          frozenset({Modality.MINDFULNESS}))
    additions = enrollment.additions_for(change, GROUPS, now)
    assert {a.group_id for a in additions} == {"g-thu"}
    assert all(a.starts_at > now for a in additions) and len(additions) == 7
    enrollment.adjust_to_plan(change, additions, {}, now)
    events = recorded(enrollment)
    cancelled = events[0]
    assert isinstance(cancelled, SessionsCancelled) and cancelled.reason == "PlanRevised"
    mindfulness = [s for s in enrollment.sessions.values() if s.modality is Modality.MINDFULNESS]
    assert {s.status for s in mindfulness if s.starts_at > now} == {"cancelled"}
    assert {s.status for s in mindfulness if s.starts_at < now} == {"scheduled"}
    (scheduled,) = [e for e in events if isinstance(e, SessionsScheduled)]
    assert len(scheduled.sessions) == 7 and len(events) == 2


def test_family_therapy_in_a_plan_is_left_to_the_family_service() -> None:
    enrollment = enrolled()
    now = datetime(2026, 12, 16, 12, tzinfo=UTC)
    family_group = Group("site-n", "iop", "g-fam", Modality.FAMILY_THERAPY, "clin-5", 4,
                         time(9), 90, 8)
    change = PlanChange(frozenset({Modality.FAMILY_THERAPY}), frozenset())
    assert enrollment.additions_for(change, [*GROUPS, family_group], now) == []


def test_plan_change_without_a_previous_plan_uses_the_revision_codes() -> None:
    revised = plan(("I1", Modality.GROUP_THERAPY, 4), ("I2", Modality.CBT, 0),
                   ("I9", Modality.DBT_SKILLS, 1))
    change = plan_change(revised, ["added:I9", "removed:I3"], None)
    assert change == PlanChange(frozenset({Modality.DBT_SKILLS}), frozenset({Modality.CBT}))
    removed = plan_change(plan(("I1", Modality.GROUP_THERAPY, 4)), ["removed:I5"],
                          {Modality.GROUP_THERAPY: 4, Modality.MINDFULNESS: 1})
    assert removed == PlanChange(frozenset(), frozenset({Modality.MINDFULNESS}))


def test_missed_events_carry_the_local_date_and_excuse() -> None:
    enrollment = enrolled()
    session = sessions_of(enrollment)[0]
    enrollment.record_attendance(session, E, 0, POLICY)
    (missed,) = recorded(enrollment)
    assert isinstance(missed, SessionMissed) and missed.excused and missed.missed_on == START
