"""Attendance rules: weekly hours against the program minimum, and outreach. Pure; no I/O.

- A session attended counts its scheduled minutes; a late arrival counts them less
  the minutes late; absent and excused count nothing.
- Weeks are the seven days from a given first day (the program start, so a
  mid-week admission does not make a short first week). A week whose hours are
  below the site's minimum is flagged for review.
- Consecutive unexcused absences, counted back from the latest session, call for
  outreach once they reach the site's threshold. An excused absence neither counts
  nor breaks the streak: the patient was still not seen, and excusing a session
  should not hide the absences around it. Attending (even late) breaks it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from fractions import Fraction

from iopnet.fields import InvalidField


class InvalidAttendance(InvalidField):
    """Attendance data the rules cannot use; ``field`` names the offending input."""



class AttendanceStatus(StrEnum):
    ATTENDED = "attended"
    LATE = "late"
    ABSENT = "absent"
    EXCUSED = "excused"


@dataclass(frozen=True)
class AttendancePolicy:
    """A site's attendance policy (``SitePolicies.attendance_min_weekly_hours``,
    ``SitePolicies.outreach_after_absences`` in the catalog)."""

    min_weekly_hours: float = 9
    outreach_after_absences: int = 2

    def __post_init__(self) -> None:
        if not 0 <= self.min_weekly_hours <= 24 * 7:
            raise InvalidAttendance("min_weekly_hours", "must be 0-168")
        if isinstance(self.outreach_after_absences, bool) or self.outreach_after_absences < 1:
            raise InvalidAttendance("outreach_after_absences", "must be 1 or more")


@dataclass(frozen=True)
class SessionAttendance:
    """One patient's attendance at one session. ``starts_at`` in the site's local time."""

    session_id: str
    starts_at: datetime
    scheduled_minutes: int
    status: AttendanceStatus
    minutes_late: int = 0

    def __post_init__(self) -> None:
        if _not_int(self.scheduled_minutes) or self.scheduled_minutes <= 0:
            raise InvalidAttendance("scheduled_minutes", "must be more than 0")
        try:
            status = AttendanceStatus(self.status)
        except ValueError:
            raise InvalidAttendance("status", f"unknown status {self.status!r}") from None
        object.__setattr__(self, "status", status)  # "late" from an API becomes the enum
        if _not_int(self.minutes_late) or self.minutes_late < 0:
            raise InvalidAttendance("minutes_late", "must be 0 or more")
        if status is not AttendanceStatus.LATE and self.minutes_late:
            raise InvalidAttendance("minutes_late", "only a late arrival has minutes late")
        if self.minutes_late > self.scheduled_minutes:
            raise InvalidAttendance("minutes_late", "cannot exceed the session's length")

    @property
    def credited_minutes(self) -> int:
        match self.status:
            case AttendanceStatus.ATTENDED:
                return self.scheduled_minutes
            case AttendanceStatus.LATE:
                return self.scheduled_minutes - self.minutes_late
            case _:
                return 0


@dataclass(frozen=True)
class WeekHours:
    week_start: date
    minutes: int
    below_minimum: bool

    @property
    def hours(self) -> float:
        return self.minutes / 60

    @property
    def week_end(self) -> date:
        """The week's last day, inclusive."""
        return self.week_start + timedelta(days=6)


@dataclass(frozen=True)
class AbsenceStreak:
    """Trailing unexcused absences. ``session_ids`` oldest first; the first identifies the
    streak, so a caller can send its outreach once per streak."""

    session_ids: tuple[str, ...]
    outreach_due: bool

    @property
    def count(self) -> int:
        return len(self.session_ids)


def week_hours(
    week_start: date, sessions: Iterable[SessionAttendance], policy: AttendancePolicy | None = None
) -> WeekHours:
    """The hours credited in the seven days from ``week_start``; other sessions are ignored."""
    policy = policy or AttendancePolicy()
    week_end = week_start + timedelta(days=7)
    minutes = sum(
        s.credited_minutes for s in sessions if week_start <= s.starts_at.date() < week_end
    )
    # Exact arithmetic: 9 hours is 540 minutes, not 539.99...
    below = Fraction(minutes, 60) < Fraction(str(policy.min_weekly_hours))
    return WeekHours(week_start, minutes, below)


def weekly_hours(
    first_day: date, sessions: Sequence[SessionAttendance], policy: AttendancePolicy | None = None
) -> tuple[WeekHours, ...]:
    """Every week from ``first_day`` through the week of the latest session, empty weeks too."""
    if not sessions:
        return ()
    last_day = max(s.starts_at.date() for s in sessions)
    earliest = min(s.starts_at.date() for s in sessions)
    if earliest < first_day:
        raise InvalidAttendance("sessions", f"a session on {earliest} is before {first_day}")
    weeks = (last_day - first_day).days // 7 + 1
    return tuple(
        week_hours(first_day + timedelta(weeks=n), sessions, policy) for n in range(weeks)
    )


def absence_streak(
    sessions: Iterable[SessionAttendance], policy: AttendancePolicy | None = None
) -> AbsenceStreak:
    policy = policy or AttendancePolicy()
    streak: list[str] = []
    for session in sorted(sessions, key=lambda s: s.starts_at, reverse=True):
        if session.status is AttendanceStatus.ABSENT:
            streak.append(session.session_id)
        elif session.status in (AttendanceStatus.ATTENDED, AttendanceStatus.LATE):
            break
    streak.reverse()
    return AbsenceStreak(tuple(streak), len(streak) >= policy.outreach_after_absences)


def _not_int(value: object) -> bool:
    return not isinstance(value, int) or isinstance(value, bool)
