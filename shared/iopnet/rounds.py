"""What a worker's calendar jobs share: a round on start and then every so often until the
worker stops, each round handling what is due at its time in batches, in key order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import asyncpg

from iopnet.db import Connection
from iopnet.envelope import utc_now
from iopnet.eventstore import Cause
from iopnet.metrics import ROUND_ITEMS_FAILED
from iopnet.service import BackgroundJob
from iopnet.settings import ServiceSettings

log = logging.getLogger(__name__)
S = TypeVar("S", bound=ServiceSettings)

#: One round at a time: how many it handled.
Round = Callable[[asyncpg.Pool, datetime], Awaitable[int]]
#: The keys due at a time, after a key (``""``: from the first), at most so many, in order.
DueAt = Callable[[Connection, datetime, str, int], Awaitable[list[str]]]
#: The handling of one due key, in a transaction of its own.
Handle = Callable[[asyncpg.Pool, str, datetime, Cause], Awaitable[None]]


def calendar_job(one_round: Round, settings_kind: type[S], interval: Callable[[S], float],
                 what: str) -> BackgroundJob:
    """A background job (``SPEC.background``): ``one_round`` at the present time on start,
    then ``interval(settings)`` seconds after each round ends, until the worker stops. A
    round that handled anything logs how many ``what``; failures reach the worker's
    ``keep_running``."""

    async def job(pool: asyncpg.Pool, settings: ServiceSettings, stop: asyncio.Event) -> None:
        assert isinstance(settings, settings_kind)
        seconds = interval(settings)
        while not stop.is_set():
            handled = await one_round(pool, utc_now())
            if handled:
                log.info("%s: %d", what, handled)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), seconds)

    job.__name__ = getattr(one_round, "__name__", job.__name__)
    return job


async def each_due(pool: asyncpg.Pool, now: datetime, due_at: DueAt, handle: Handle,
                   batch: int = 200) -> int:
    """``handle`` every key due at ``now``, a batch at a time; returns how many were handled.
    Keyset pagination: a key still due after its handling is not met again this round.

    One key that fails is logged, counted and left for the next round: it never stops the
    round for the keys after it (a consent that must expire, a week that must be reviewed).
    """
    cause = Cause(correlation_id=str(uuid.uuid4()), causation_id=str(uuid.uuid4()))
    handled, last = 0, ""
    while True:
        async with pool.acquire() as conn:
            due = await due_at(conn, now, last, batch)
        for key in due:
            handled += await _handle_one(pool, key, now, cause, handle)
        if len(due) < batch:
            return handled
        last = due[-1]


async def _handle_one(pool: asyncpg.Pool, key: str, now: datetime, cause: Cause,
                      handle: Handle) -> int:
    try:
        await handle(pool, key, now, cause)
    except Exception:
        log.exception("round: %s failed; it is left for the next round", key)
        ROUND_ITEMS_FAILED.inc()
        return 0
    return 1
