"""The weekly hours of services a schedule plans, against its level of care. Pure.

An intensive outpatient program plans at least 9 hours of services a week (42 CFR
410.44; the physician certifies the need for "a minimum of 9 hours per week",
42 CFR 424.24(d), both from the CY 2024 OPPS final rule, 88 FR 81540) and under 20,
where partial hospitalization begins: at least 20 hours a week (42 CFR 410.43 and
424.24(e)). The week counted is the one ``program_schedule`` makes: each chosen group
once, and weekly individual counseling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from iopnet.catalog import LevelOfCare
from iopnet.catalog.codes import IOP_MIN_WEEKLY_HOURS, PHP_MIN_WEEKLY_HOURS
from iopnet.fields import InvalidField
from services.sessions.domain.schedule import INDIVIDUAL_MINUTES, Group

#: Each level's weekly hours: at least the first, under the second (None: no ceiling).
HOURS_OF_LEVEL: dict[LevelOfCare, tuple[int, int | None]] = {
    LevelOfCare.IOP: (IOP_MIN_WEEKLY_HOURS, PHP_MIN_WEEKLY_HOURS),
    LevelOfCare.PARTIAL_HOSPITALIZATION: (PHP_MIN_WEEKLY_HOURS, None),
}


@dataclass(frozen=True)
class WeeklyHours:
    """What a planned week reaches, against its level's range."""

    level: LevelOfCare
    minutes: int
    group_ids: tuple[str, ...] = ()
    """The groups that make the week."""

    @property
    def hours(self) -> float:
        return round(self.minutes / 60, 2)

    @property
    def minimum(self) -> int:
        return HOURS_OF_LEVEL[self.level][0]

    @property
    def below(self) -> int | None:
        return HOURS_OF_LEVEL[self.level][1]

    @property
    def within(self) -> bool:
        # Exact minutes: 540 minutes is 9 hours, 1199 minutes is under 20.
        hours = Fraction(self.minutes, 60)
        return hours >= self.minimum and (self.below is None or hours < self.below)

    def problem(self) -> str:
        ceiling = f" and under {self.below}" if self.below is not None else ""
        return (f"the planned week reaches {self.hours:g} hours of services; "
                f"{self.level.value} needs at least {self.minimum}{ceiling}")


def planned_week(groups: Sequence[Group]) -> int:
    """Minutes of services in the week these groups make (with individual counseling)."""
    if not groups:
        return 0
    return sum(g.duration_minutes for g in groups) + INDIVIDUAL_MINUTES


def weekly_hours(groups: Sequence[Group], level: LevelOfCare = LevelOfCare.IOP
                 ) -> WeeklyHours:
    if level not in HOURS_OF_LEVEL:
        raise ValueError(f"{level.value} plans no weekly hours here")
    return WeeklyHours(level, planned_week(groups), tuple(g.group_id for g in groups))


class ScheduleOutsideHours(InvalidField):
    """A schedule asked for that cannot make a week of its level (422 naming the field)."""

    def __init__(self, field: str, week: WeeklyHours) -> None:
        super().__init__(field, week.problem())
        self.week = week
