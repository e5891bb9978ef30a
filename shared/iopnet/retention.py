"""Bookkeeping that must not be kept for ever, purged by every service's worker.

Answers kept for idempotent retries go after 72 hours (they can hold names and
contact details). Each round is one short statement; a failed round is retried
at the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from iopnet import idempotency
from iopnet.settings import ServiceSettings

log = logging.getLogger(__name__)
ROUND_SECONDS = 3600.0


async def purge_bookkeeping(pool: asyncpg.Pool, _: ServiceSettings, stop: asyncio.Event
                            ) -> None:
    """A background job: purge on start, then every hour, until the worker stops."""
    while not stop.is_set():
        async with pool.acquire() as conn:
            purged = await idempotency.purge_expired(conn)
        if purged:
            log.info("idempotent answers past retention purged: %d", purged)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), ROUND_SECONDS)
