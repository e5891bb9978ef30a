"""Programs' recurring groups, and the occurrences a patient is scheduled for. Pure.

A group meets every week on one weekday at a local time in the site's time zone;
each meeting (an occurrence) is one session that every enrolled patient shares,
so its id is derived from the group and the date: redelivering an admission
schedules the very same sessions. Times travel in UTC, converted with the
site's zone on each date, so a group at 09:00 stays at 09:00 across DST.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from iopnet.catalog import Modality, SessionKind

#: A typical IOP day is one session of about three hours.
HOURS_PER_PROGRAM_DAY = 3
DEFAULT_GROUP_MINUTES = 180
INDIVIDUAL_MINUTES = 60
_SESSION_IDS = uuid.UUID("5e55a0e1-0b5e-4c1e-9d1a-10b0e7c0ffee")
#: Modalities a plan may hold that sessions never schedules: family therapy is held by
#: the family service, with the support persons the patient's consent allows.
HELD_BY_FAMILY = frozenset({Modality.FAMILY_THERAPY})


@dataclass(frozen=True)
class Group:
    """A recurring group of a program: one weekday (0 = Monday), one local start time."""

    site_id: str
    program_id: str
    group_id: str
    modality: Modality
    clinician_id: str
    weekday: int
    starts_at: time
    duration_minutes: int
    capacity: int

    @property
    def order(self) -> tuple[int, time, str]:
        return (self.weekday, self.starts_at, self.group_id)


@dataclass(frozen=True)
class Occurrence:
    """One session to schedule: a group's meeting on a date, or an individual session."""

    session_id: str
    kind: SessionKind
    modality: Modality
    group_id: str | None
    starts_at: datetime
    duration_minutes: int
    clinician_id: str
    capacity: int | None = None


def choose_groups(groups: Iterable[Group], days_per_week: int) -> tuple[Group, ...]:
    """One group per weekday, earliest weekday first, until the patient's days are filled.

    Ties on a weekday go to the earliest start, then the group id: the same
    program always gives the same choice.
    """
    chosen: dict[int, Group] = {}
    for group in sorted(groups, key=lambda g: g.order):
        if len(chosen) == days_per_week:
            break
        chosen.setdefault(group.weekday, group)
    return tuple(chosen.values())


def local_to_utc(day: date, at: time, zone: str) -> datetime:
    """The UTC instant of a local wall-clock time at the site on ``day``."""
    return datetime.combine(day, at, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def local_date(instant: datetime, zone: str) -> date:
    return instant.astimezone(ZoneInfo(zone)).date()


def dates_on(weekday: int, first: date, until: date) -> list[date]:
    """Every date that falls on ``weekday`` from ``first`` up to, not including, ``until``."""
    day = first + timedelta(days=(weekday - first.weekday()) % 7)
    days = []
    while day < until:
        days.append(day)
        day += timedelta(weeks=1)
    return days


def group_session_id(group: Group, day: date) -> str:
    key = f"group/{group.site_id}/{group.program_id}/{group.group_id}/{day.isoformat()}"
    return str(uuid.uuid5(_SESSION_IDS, key))


def individual_session_id(patient_id: str, day: date) -> str:
    return str(uuid.uuid5(_SESSION_IDS, f"individual/{patient_id}/{day.isoformat()}"))


def group_occurrences(group: Group, first: date, until: date, zone: str) -> list[Occurrence]:
    return [
        Occurrence(
            session_id=group_session_id(group, day), kind=SessionKind.GROUP,
            modality=group.modality, group_id=group.group_id,
            starts_at=local_to_utc(day, group.starts_at, zone),
            duration_minutes=group.duration_minutes, clinician_id=group.clinician_id,
            capacity=group.capacity,
        )
        for day in dates_on(group.weekday, first, until)
    ]


def individual_occurrences(
    patient_id: str, anchor: Group, clinician_id: str, first: date, until: date, zone: str
) -> list[Occurrence]:
    """Weekly individual counseling with the patient's clinician, right after ``anchor``."""
    occurrences = []
    for day in dates_on(anchor.weekday, first, until):
        local_start = datetime.combine(day, anchor.starts_at) + timedelta(
            minutes=anchor.duration_minutes)
        occurrences.append(Occurrence(
            session_id=individual_session_id(patient_id, day), kind=SessionKind.INDIVIDUAL,
            modality=Modality.INDIVIDUAL_COUNSELING, group_id=None,
            starts_at=local_to_utc(local_start.date(), local_start.time(), zone),
            duration_minutes=INDIVIDUAL_MINUTES, clinician_id=clinician_id,
        ))
    return occurrences


def program_schedule(
    patient_id: str, clinician_id: str, groups: Sequence[Group], days_per_week: int,
    first: date, until: date, zone: str,
) -> list[Occurrence]:
    """The groups on ``days_per_week`` distinct weekdays, plus weekly individual counseling
    after the first program day's group; in time order."""
    chosen = choose_groups(groups, days_per_week)
    if not chosen:
        return []
    occurrences = [o for g in chosen for o in group_occurrences(g, first, until, zone)]
    occurrences += individual_occurrences(patient_id, chosen[0], clinician_id, first, until,
                                          zone)
    return sorted(occurrences, key=lambda o: (o.starts_at, o.session_id))
