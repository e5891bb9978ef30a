"""An IOP week plans 9 hours of services at least and under 20; partial hospitalization
20 at least (42 CFR 410.44, 410.43, 424.24). A schedule outside that is refused."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from iopnet.catalog import LevelOfCare, Modality, ScheduleRefused
from services.sessions.domain import (
    Enrollment,
    EnrollmentDaysChanged,
    EnrollmentStatus,
    EnrollmentTerms,
)
from services.sessions.domain.schedule import Group
from services.sessions.domain.service_hours import (
    ScheduleOutsideHours,
    planned_week,
    weekly_hours,
)

pytestmark = pytest.mark.unit

IOP, PHP = LevelOfCare.IOP, LevelOfCare.PARTIAL_HOSPITALIZATION


def groups(*minutes: int) -> list[Group]:
    return [Group("site-n", "iop", f"g-{day}", Modality.GROUP_THERAPY, "clin-1", day, time(9),
                  length, 12) for day, length in enumerate(minutes)]


def test_the_week_counts_each_group_once_and_weekly_individual_counseling() -> None:
    assert planned_week(groups(180, 180, 180)) == 3 * 180 + 60
    assert planned_week([]) == 0


@pytest.mark.parametrize(("minutes", "level", "within"), [
    ((120, 120, 120), IOP, False),            # 7 h: three 2-hour groups and counseling
    ((160, 160, 159), IOP, False),            # 539 minutes: a minute short of 9 hours
    ((160, 160, 160), IOP, True),             # 540 minutes: 9 hours exactly
    ((228, 228, 228, 228, 227), IOP, True),   # 1199 minutes: under 20
    ((228, 228, 228, 228, 228), IOP, False),  # 1200 minutes: partial hospitalization's
    ((228, 228, 228, 228, 227), PHP, False),  # 1199 minutes: under PHP's 20
    ((228, 228, 228, 228, 228), PHP, True),   # 1200 minutes
])
def test_the_level_of_care_bounds_the_week(minutes: tuple[int, ...], level: LevelOfCare,
                                           within: bool) -> None:
    week = weekly_hours(groups(*minutes), level)
    assert week.within is within, week.problem()


def test_exactly_9_and_just_under_20_hours() -> None:
    assert weekly_hours(groups(160, 160, 160)).minutes == 540
    assert weekly_hours(groups(160, 160, 159)).minutes == 539
    assert not weekly_hours(groups(160, 160, 159)).within
    assert weekly_hours(groups(160, 160, 160)).within
    assert "reaches 8.98 hours" in weekly_hours(groups(160, 160, 159)).problem()


def terms(days: int = 3) -> EnrollmentTerms:
    return EnrollmentTerms(patient_id="p-1", site_id="site-n", program_id="iop",
                           clinician_id="clin-7", starts_on=date(2026, 12, 7),
                           days_per_week=days, planned_weeks=8, time_zone="America/Chicago")


def test_a_week_under_9_hours_is_refused_once_and_shown() -> None:
    enrollment = Enrollment("p-1")
    enrollment.terms = terms()
    short = weekly_hours(groups(120, 120, 120))
    assert not enrollment.may_schedule(short)
    [refused] = enrollment.pending
    assert isinstance(refused, ScheduleRefused)
    assert refused.published
    assert (refused.planned_weekly_hours, refused.minimum_hours, refused.below_hours,
            refused.days_per_week, refused.level) == (7.0, 9, 20, 3, IOP)
    assert enrollment.status is EnrollmentStatus.SCHEDULE_REFUSED
    assert not enrollment.may_schedule(short)  # the same hours: nothing new to say
    assert len(enrollment.pending) == 1
    assert not enrollment.may_schedule(weekly_hours(groups(150, 150, 150)))  # 8.5 h: said
    assert len(enrollment.pending) == 2
    assert enrollment.may_schedule(weekly_hours(groups(180, 180, 180)))
    assert len(enrollment.pending) == 2


def test_making_the_schedule_again_under_9_hours_is_refused_naming_the_field() -> None:
    enrollment = Enrollment("p-1")
    enrollment.terms = terms()
    now = datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(ScheduleOutsideHours) as refused:
        enrollment.change_days(3, weekly_hours(groups(120, 120, 120)), "clin-7", "why", now)
    assert refused.value.pointer == "#/days_per_week"
    assert "reaches 7 hours" in refused.value.message
    assert enrollment.pending == []
    enrollment.change_days(4, weekly_hours(groups(120, 120, 120, 120)), "clin-7", "four", now)
    [changed] = enrollment.pending
    assert isinstance(changed, EnrollmentDaysChanged)
    assert (changed.days_per_week, changed.clinician_id) == (4, "clin-7")
    assert enrollment.known_terms.days_per_week == 4
