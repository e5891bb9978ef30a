"""Quiet hours: no message that can wait reaches a person at night, in the site's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from iopnet.catalog import Channel


def observes_quiet_hours(urgent: bool, channel: Channel) -> bool:
    """Urgent alerts go at once; so do webhooks, which reach the site's systems, not people."""
    return not urgent and channel is Channel.EMAIL


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    """Whether a local wall-clock time is quiet; start == end means no quiet hours."""
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end  # across midnight, e.g. 21:00-08:00


def quiet_until(now: datetime, zone: str, start: time, end: time) -> datetime | None:
    """When a message due ``now`` may go (the end of quiet hours, in UTC); None if now."""
    local = now.astimezone(ZoneInfo(zone))
    if not in_quiet_hours(local.time(), start, end):
        return None
    end_day = local.date() if local.time() < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=ZoneInfo(zone)).astimezone(UTC)
