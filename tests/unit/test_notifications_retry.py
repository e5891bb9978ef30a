"""Retries: exponential backoff from a base, then the message fails."""

from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.domain import MAX_ATTEMPTS, next_attempt_at, retry_delay

pytestmark = pytest.mark.unit

FAILED_AT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def test_the_backoff_doubles_from_thirty_seconds() -> None:
    delays = [retry_delay(attempt, 30).total_seconds() for attempt in range(1, MAX_ATTEMPTS)]
    assert delays == [30, 60, 120, 240, 480]


def test_after_the_sixth_failed_attempt_there_is_no_next_one() -> None:
    assert MAX_ATTEMPTS == 6
    assert next_attempt_at(5, FAILED_AT, 30) == FAILED_AT + timedelta(seconds=480)
    assert next_attempt_at(6, FAILED_AT, 30) is None


def test_the_base_and_the_limit_are_configurable() -> None:
    assert next_attempt_at(1, FAILED_AT, 0.1, max_attempts=2) == FAILED_AT + timedelta(
        seconds=0.1)
    assert next_attempt_at(2, FAILED_AT, 0.1, max_attempts=2) is None
