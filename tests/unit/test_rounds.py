"""A worker's calendar job: a round on start, then one every interval, until stopped."""

import asyncio
from datetime import datetime
from typing import cast

import asyncpg
import pytest

from iopnet.rounds import calendar_job
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
