"""Bookkeeping that must not be kept for ever, purged by every service's worker.

Answers kept for idempotent retries go after 72 hours (they can hold names and
contact details); counts of unauthenticated refusals after 90 days; dead
letters 30 days after an operator resolved them (their bytes are an event's
data; the resolution, who and why, goes with them). The audit
trail's partitions for the coming months are made ahead (its rows are kept six
years and purged only by an administrator). Each round is a few short
statements; a failed round is retried at the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import asyncpg

from iopnet import idempotency
from iopnet.db import Connection
from iopnet.settings import ServiceSettings

log = logging.getLogger(__name__)
ROUND_SECONDS = 3600.0
#: Counts of unauthenticated refusals: long enough to see a pattern, then gone.
REFUSALS_KEPT = timedelta(days=90)
#: Resolved dead letters: long enough to look back at an incident, then gone.
RESOLVED_DEAD_LETTERS_KEPT = timedelta(days=30)


async def purge_bookkeeping(pool: asyncpg.Pool, _: ServiceSettings, stop: asyncio.Event
                            ) -> None:
    """A background job: purge on start, then every hour, until the worker stops."""
    while not stop.is_set():
        async with pool.acquire() as conn:
            purged = await idempotency.purge_expired(conn)
            await conn.execute("DELETE FROM refused_requests WHERE minute < now() - $1::interval",
                               REFUSALS_KEPT)
            await conn.execute("SELECT iopnet_audit_partitions_ahead()")
            await purge_resolved_dead_letters(conn)
        if purged:
            log.info("idempotent answers past retention purged: %d", purged)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), ROUND_SECONDS)


async def purge_resolved_dead_letters(conn: Connection, kept: timedelta = RESOLVED_DEAD_LETTERS_KEPT
                                      ) -> int:
    """Delete dead letters resolved longer than ``kept`` ago; how many."""
    status = await conn.execute(
        "DELETE FROM dead_letters WHERE resolved_at < now() - $1::interval", kept)
    return int(status.rsplit(" ", 1)[-1])
