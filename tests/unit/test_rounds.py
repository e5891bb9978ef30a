"""A worker's calendar job: a round on start, then one every interval, until stopped."""

import asyncio
from datetime import UTC, datetime
from typing import cast

import asyncpg
import pytest

from iopnet.rounds import calendar_job, each_due
from services.family.settings import FamilySettings

pytestmark = pytest.mark.unit


async def test_a_calendar_job_rounds_on_start_then_every_interval_until_stopped() -> None:
    stop = asyncio.Event()
    rounds: list[datetime] = []

    async def expire_due(pool: asyncpg.Pool, now: datetime) -> int:
        rounds.append(now)
        if len(rounds) == 3:
            stop.set()
        return 1

    job = calendar_job(expire_due, FamilySettings,
                       lambda settings: settings.consent_expiry_seconds, "circles")
    settings = FamilySettings(consent_expiry_seconds=0.01)
    await asyncio.wait_for(job(cast(asyncpg.Pool, None), settings, stop), 1)
    assert len(rounds) == 3
    assert rounds == sorted(rounds) and rounds[0].tzinfo is not None
    assert getattr(job, "__name__", None) == "expire_due"  # what keep_running logs it as


async def test_a_failing_round_reaches_the_worker() -> None:
    async def broken(pool: asyncpg.Pool, now: datetime) -> int:
        raise ConnectionError("database restarting")

    job = calendar_job(broken, FamilySettings, lambda settings: 900.0, "circles")
    with pytest.raises(ConnectionError):
        await job(cast(asyncpg.Pool, None), FamilySettings(), asyncio.Event())


class _Pool:
    """Enough of a pool for ``each_due``: it only hands its connection to ``due_at``."""

    def acquire(self) -> "_Pool":
        return self

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *_: object) -> None:
        return None


async def test_one_failing_item_does_not_stop_the_round_for_the_others() -> None:
    handled: list[str] = []

    async def due_at(conn: object, now: datetime, after: str, limit: int) -> list[str]:
        return [k for k in ("a", "b", "c") if k > after][:limit]

    async def expire(pool: asyncpg.Pool, key: str, now: datetime, cause: object) -> None:
        if key == "b":
            raise ValueError("a consent that cannot expire")
        handled.append(key)

    count = await each_due(cast(asyncpg.Pool, _Pool()), datetime.now(UTC), due_at,
                           expire, batch=2)
    assert handled == ["a", "c"]
    assert count == 2
