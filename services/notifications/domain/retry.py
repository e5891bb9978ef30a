"""Retries with exponential backoff: base, 2 x base, 4 x base, ... then the message fails."""

from __future__ import annotations

from datetime import datetime, timedelta

MAX_ATTEMPTS = 6


def retry_delay(failed_attempt: int, base_seconds: float) -> timedelta:
    """How long to wait after attempt number ``failed_attempt`` (1-based) failed."""
    return timedelta(seconds=base_seconds * 2 ** (failed_attempt - 1))


def next_attempt_at(failed_attempt: int, failed_at: datetime, base_seconds: float,
                    max_attempts: int = MAX_ATTEMPTS) -> datetime | None:
    """When to try again, or None: the message has had all its attempts and failed."""
    if failed_attempt >= max_attempts:
        return None
    return failed_at + retry_delay(failed_attempt, base_seconds)


#: Failures a partner may be told of by name: nothing about its endpoint's network.
_NOT_CONFIGURED = frozenset({"NoContactAddress", "NoWebhookConfigured"})


def failure_reason(error_class: str | None) -> str | None:
    """What the API says of a failed attempt: coarse, so the worker tells no one which
    ports and hosts answer (a connection refused and a timeout read the same)."""
    if error_class is None:
        return None
    if error_class in _NOT_CONFIGURED:
        return "not_configured"
    if error_class == "WebhookRefused":
        return "refused"
    return "unreachable"
