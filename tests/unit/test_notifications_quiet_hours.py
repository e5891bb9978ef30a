"""Quiet hours, in the site's time zone, across midnight and daylight-saving changes."""

from datetime import UTC, datetime, time

import pytest

from iopnet.catalog import Channel
from services.notifications.domain import in_quiet_hours, observes_quiet_hours, quiet_until

pytestmark = pytest.mark.unit

NIGHT = (time(21, 0), time(8, 0))


@pytest.mark.parametrize(("local", "quiet"), [
    (time(20, 59), False), (time(21, 0), True), (time(23, 59), True), (time(0, 0), True),
    (time(7, 59), True), (time(8, 0), False), (time(12, 0), False),
])
def test_quiet_hours_across_midnight(local: time, quiet: bool) -> None:
    assert in_quiet_hours(local, *NIGHT) is quiet


@pytest.mark.parametrize(("local", "quiet"), [
    (time(12, 59), False), (time(13, 0), True), (time(13, 59), True), (time(14, 0), False),
])
def test_quiet_hours_within_one_day(local: time, quiet: bool) -> None:
    assert in_quiet_hours(local, time(13, 0), time(14, 0)) is quiet


def test_equal_start_and_end_means_no_quiet_hours() -> None:
    assert not any(in_quiet_hours(time(h, 0), time(0, 0), time(0, 0)) for h in range(24))


def test_late_evening_is_deferred_to_next_morning_in_the_site_zone() -> None:
    # 22:30 in Chicago (CST, UTC-6) on Dec 1 = 04:30 UTC on Dec 2.
    now = datetime(2026, 12, 2, 4, 30, tzinfo=UTC)
    assert quiet_until(now, "America/Chicago", *NIGHT) == datetime(2026, 12, 2, 14, 0,
                                                                    tzinfo=UTC)


def test_early_morning_is_deferred_to_the_same_morning() -> None:
    now = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)  # 05:00 in Chicago
    assert quiet_until(now, "America/Chicago", *NIGHT) == datetime(2026, 12, 2, 14, 0,
                                                                    tzinfo=UTC)


def test_the_same_instant_is_quiet_in_one_zone_and_not_in_another() -> None:
    now = datetime(2026, 12, 2, 4, 30, tzinfo=UTC)  # 22:30 Chicago, 13:30 Tokyo
    assert quiet_until(now, "Asia/Tokyo", *NIGHT) is None
    assert quiet_until(now, "America/Chicago", *NIGHT) is not None


def test_a_daytime_message_goes_now() -> None:
    assert quiet_until(datetime(2026, 12, 2, 18, 0, tzinfo=UTC), "America/Chicago",
                       *NIGHT) is None


def test_the_end_of_quiet_hours_follows_a_daylight_saving_change() -> None:
    # Night of 7-8 March 2026: Chicago springs forward (CST -6 → CDT -5).
    now = datetime(2026, 3, 8, 4, 0, tzinfo=UTC)  # 22:00 CST on March 7
    assert quiet_until(now, "America/Chicago", *NIGHT) == datetime(2026, 3, 8, 13, 0,
                                                                    tzinfo=UTC)


def test_urgent_alerts_and_webhooks_ignore_quiet_hours() -> None:
    assert observes_quiet_hours(False, Channel.EMAIL)
    assert not observes_quiet_hours(True, Channel.EMAIL)
    assert not observes_quiet_hours(False, Channel.WEBHOOK)
