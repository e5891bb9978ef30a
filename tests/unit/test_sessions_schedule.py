"""Programs' groups → a patient's occurrences: weekday choice, dates, time zones, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from iopnet.catalog import Modality, SessionKind
from services.sessions.domain.schedule import (
    Group,
    choose_groups,
    dates_on,
    group_occurrences,
    group_session_id,
    local_to_utc,
    program_schedule,
)

pytestmark = pytest.mark.unit

CHICAGO = "America/Chicago"
MON, TUE, WED, THU, FRI = range(5)


def group(group_id: str, weekday: int, at: time = time(9), *, capacity: int = 10,
          modality: Modality = Modality.GROUP_THERAPY, minutes: int = 180) -> Group:
    return Group("site-n", "iop", group_id, modality, "clin-1", weekday, at, minutes, capacity)


WEEK = [group("fri", FRI), group("mon-pm", MON, time(13)), group("mon", MON),
        group("wed", WED), group("tue", TUE), group("thu", THU)]


def test_groups_are_chosen_on_distinct_weekdays_earliest_first() -> None:
    chosen = choose_groups(WEEK, 3)
    assert [g.group_id for g in chosen] == ["mon", "tue", "wed"]


def test_on_one_weekday_the_earlier_group_wins_then_the_id() -> None:
    same_time = [group("b", MON), group("a", MON), group("c", TUE)]
    assert [g.group_id for g in choose_groups(same_time, 2)] == ["a", "c"]
    assert [g.group_id for g in choose_groups(WEEK, 5)] == ["mon", "tue", "wed", "thu", "fri"]


def test_fewer_weekdays_than_asked_gives_what_there_is() -> None:
    assert [g.group_id for g in choose_groups([group("a", MON), group("b", MON)], 4)] == ["a"]
    assert choose_groups([], 3) == ()


def test_dates_on_a_weekday_from_a_mid_week_start() -> None:
    start = date(2026, 12, 2)  # a Wednesday
    assert dates_on(MON, start, date(2026, 12, 16)) == [date(2026, 12, 7), date(2026, 12, 14)]
    assert dates_on(WED, start, date(2026, 12, 16)) == [date(2026, 12, 2), date(2026, 12, 9)]
    assert dates_on(TUE, start, date(2026, 12, 8)) == []


def test_local_times_become_utc_on_each_side_of_the_autumn_change() -> None:
    # US Central time leaves daylight saving time on Sunday 1 November 2026.
    assert local_to_utc(date(2026, 10, 26), time(9), CHICAGO) == datetime(2026, 10, 26, 14,
                                                                         tzinfo=UTC)
    assert local_to_utc(date(2026, 11, 2), time(9), CHICAGO) == datetime(2026, 11, 2, 15,
                                                                        tzinfo=UTC)


def test_a_weekly_group_keeps_its_local_time_across_the_spring_change() -> None:
    # ... and enters it on Sunday 14 March 2027.
    occurrences = group_occurrences(group("mon", MON), date(2027, 3, 8), date(2027, 3, 22),
                                    CHICAGO)
    assert [o.starts_at for o in occurrences] == [
        datetime(2027, 3, 8, 15, tzinfo=UTC), datetime(2027, 3, 15, 14, tzinfo=UTC)]


def test_another_zone_converts_with_its_own_rules() -> None:
    assert local_to_utc(date(2026, 7, 6), time(9), "Europe/Paris") == datetime(
        2026, 7, 6, 7, tzinfo=UTC)
    assert local_to_utc(date(2026, 12, 7), time(9), "Europe/Paris") == datetime(
        2026, 12, 7, 8, tzinfo=UTC)


def test_a_program_schedule_covers_the_days_and_weeks_with_weekly_individual_counseling(
) -> None:
    start = date(2026, 12, 2)
    schedule = program_schedule("p-1", "clin-7", WEEK, 4, start, date(2027, 2, 10), CHICAGO)
    groups = [o for o in schedule if o.kind is SessionKind.GROUP]
    individual = [o for o in schedule if o.kind is SessionKind.INDIVIDUAL]
    assert len(groups) == 4 * 10 and len(individual) == 10
    assert {o.group_id for o in groups} == {"mon", "tue", "wed", "thu"}
    assert schedule == sorted(schedule, key=lambda o: o.starts_at)
    # Right after the first program day's group (Monday 09:00-12:00 local), with the clinician.
    first = individual[0]
    assert first.starts_at == datetime(2026, 12, 7, 18, tzinfo=UTC)  # 12:00 CST
    assert (first.clinician_id, first.duration_minutes, first.modality) == (
        "clin-7", 60, Modality.INDIVIDUAL_COUNSELING)


def test_no_groups_means_no_schedule() -> None:
    assert program_schedule("p-1", "clin-7", [], 4, date(2026, 12, 2), date(2027, 2, 10),
                            CHICAGO) == []


def test_session_ids_are_deterministic_and_shared_by_a_group_occurrence() -> None:
    start, until = date(2026, 12, 2), date(2026, 12, 9)
    one = program_schedule("p-1", "clin-7", WEEK, 3, start, until, CHICAGO)
    again = program_schedule("p-1", "clin-7", WEEK, 3, start, until, CHICAGO)
    other = program_schedule("p-2", "clin-7", WEEK, 3, start, until, CHICAGO)
    assert one == again
    group_ids = {o.session_id for o in one if o.kind is SessionKind.GROUP}
    assert group_ids == {o.session_id for o in other if o.kind is SessionKind.GROUP}
    individual = {o.session_id for o in one if o.kind is SessionKind.INDIVIDUAL}
    assert individual.isdisjoint(o.session_id for o in other)
    assert group_session_id(group("mon", MON), date(2026, 12, 7)) in group_ids
