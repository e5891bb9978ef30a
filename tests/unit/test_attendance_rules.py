from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from services.sessions.domain.attendance import (
    AttendancePolicy,
    AttendanceStatus,
    InvalidAttendance,
    SessionAttendance,
    absence_streak,
    week_hours,
    weekly_hours,
)

pytestmark = pytest.mark.unit

A = AttendanceStatus.ATTENDED
L = AttendanceStatus.LATE
X = AttendanceStatus.ABSENT
E = AttendanceStatus.EXCUSED

START = date(2026, 12, 2)  # a Wednesday: weeks run Wednesday to Tuesday


def session(
    day: int, status: AttendanceStatus = A, minutes_late: int = 0, minutes: int = 180
) -> SessionAttendance:
    """A session ``day`` days after the program start, at 9:00."""
    starts_at = datetime.combine(START + timedelta(days=day), datetime.min.time()).replace(hour=9)
    return SessionAttendance(f"s-{day}", starts_at, minutes, status, minutes_late)


@pytest.mark.parametrize(
    ("status", "minutes_late", "credited"),
    [(A, 0, 180), (L, 0, 180), (L, 20, 160), (L, 180, 0), (X, 0, 0), (E, 0, 0)],
)
def test_credited_minutes(status: AttendanceStatus, minutes_late: int, credited: int) -> None:
    assert session(0, status, minutes_late).credited_minutes == credited


def test_three_full_sessions_meet_the_nine_hour_minimum() -> None:
    week = week_hours(START, [session(0), session(2), session(4)])
    assert (week.minutes, week.hours, week.below_minimum) == (540, 9.0, False)
    assert (week.week_start, week.week_end) == (START, START + timedelta(days=6))


@pytest.mark.parametrize(
    ("sessions", "minutes", "below"),
    [
        ([session(0), session(2), session(4, L, 1)], 539, True),  # one minute late: 8.98 h
        ([session(0), session(2), session(4, L, 0)], 540, False),
        ([session(0), session(2), session(4, X)], 360, True),
        ([session(0), session(2), session(4, E)], 360, True),  # excused still short
        ([session(d) for d in range(5)], 900, False),
        ([], 0, True),
    ],
)
def test_week_under_the_minimum_is_flagged(
    sessions: list[SessionAttendance], minutes: int, below: bool
) -> None:
    week = week_hours(START, sessions)
    assert (week.minutes, week.below_minimum) == (minutes, below)


@pytest.mark.parametrize(("minimum", "below"), [(6, False), (6.5, True), (12, True)])
def test_minimum_is_per_site(minimum: float, below: bool) -> None:
    week = week_hours(START, [session(0), session(2)], AttendancePolicy(min_weekly_hours=minimum))
    assert week.below_minimum is below


def test_a_zero_minimum_never_flags() -> None:
    assert week_hours(START, [], AttendancePolicy(min_weekly_hours=0)).below_minimum is False


def test_week_hours_counts_only_its_seven_days() -> None:
    sessions = [session(-1), session(0), session(6), session(7)]
    assert week_hours(START, sessions).minutes == 360


def test_weekly_hours_through_the_latest_session_including_empty_weeks() -> None:
    sessions = [session(0), session(2), session(4), session(15), session(16, L, 30)]
    weeks = weekly_hours(START, sessions)
    assert [(w.week_start, w.minutes, w.below_minimum) for w in weeks] == [
        (START, 540, False),
        (START + timedelta(weeks=1), 0, True),
        (START + timedelta(weeks=2), 330, True),
    ]
    assert weekly_hours(START, []) == ()


def test_weekly_hours_rejects_sessions_before_the_first_day() -> None:
    with pytest.raises(InvalidAttendance) as raised:
        weekly_hours(START, [session(-1), session(0)])
    assert raised.value.field == "sessions"


# --- Consecutive unexcused absences ----------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "count", "outreach"),
    [
        ([], 0, False),
        ([A, A], 0, False),
        ([A, X], 1, False),
        ([X, X], 2, True),
        ([A, X, X], 2, True),
        ([X, X, A], 0, False),      # attending ends the streak
        ([X, X, L], 0, False),      # so does arriving late
        ([A, X, E, X], 2, True),    # excused neither counts nor breaks it
        ([A, X, E, E], 1, False),
        ([A, E, E, E], 0, False),
        ([X, X, X, X], 4, True),
    ],
)
def test_outreach_after_two_consecutive_unexcused_absences(
    statuses: list[AttendanceStatus], count: int, outreach: bool
) -> None:
    streak = absence_streak(session(day, status) for day, status in enumerate(statuses))
    assert (streak.count, streak.outreach_due) == (count, outreach)


def test_streak_names_its_sessions_oldest_first_whatever_the_input_order() -> None:
    sessions = [session(3, X), session(0, A), session(2, E), session(1, X)]
    streak = absence_streak(sessions)
    assert streak.session_ids == ("s-1", "s-3")


@pytest.mark.parametrize(("threshold", "outreach"), [(1, True), (2, True), (3, False)])
def test_outreach_threshold_is_per_site(threshold: int, outreach: bool) -> None:
    policy = AttendancePolicy(outreach_after_absences=threshold)
    assert absence_streak([session(0, X), session(1, X)], policy).outreach_due is outreach


def test_two_sessions_the_same_day_are_ordered_by_time() -> None:
    morning = session(0, X)
    afternoon = SessionAttendance("s-0-pm", morning.starts_at.replace(hour=14), 60, A)
    assert absence_streak([afternoon, morning]).count == 0


def test_status_given_as_text_becomes_the_enum() -> None:
    late = SessionAttendance("s", datetime(2026, 12, 2, 9), 180, "late", 10)  # type: ignore[arg-type]
    assert late.status is AttendanceStatus.LATE
    assert late.credited_minutes == 170


# --- Invalid inputs --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheduled", "status", "late", "field"),
    [
        (0, A, 0, "scheduled_minutes"),
        (-60, A, 0, "scheduled_minutes"),
        (180, "present", 0, "status"),
        (180, L, -1, "minutes_late"),
        (180, A, 5, "minutes_late"),
        (180, X, 5, "minutes_late"),
        (180, L, 181, "minutes_late"),
    ],
)
def test_session_attendance_rejects_impossible_values(
    scheduled: int, status: Any, late: int, field: str
) -> None:
    with pytest.raises(InvalidAttendance) as raised:
        SessionAttendance("s", datetime(2026, 12, 2, 9), scheduled, status, late)
    assert raised.value.field == field
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"min_weekly_hours": -1}, "min_weekly_hours"),
        ({"min_weekly_hours": 169}, "min_weekly_hours"),
        ({"outreach_after_absences": 0}, "outreach_after_absences"),
    ],
)
def test_policy_rejects_impossible_values(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidAttendance) as raised:
        AttendancePolicy(**kwargs)
    assert raised.value.field == field


def test_default_policy() -> None:
    assert AttendancePolicy() == AttendancePolicy(min_weekly_hours=9, outreach_after_absences=2)
