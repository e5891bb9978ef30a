"""Keeping a worker's loops alive through a broker or database outage.

A relay, a consumer or a background job that fails (Kafka unreachable, the
database restarting) is started again after a pause that doubles up to a
ceiling, so the worker heals by itself when the outage ends; the outbox keeps
what was recorded meanwhile. Stopping (SIGTERM) ends the loop for good.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def keep_running(
    name: str,
    start: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    *,
    first_pause: float = 1.0,
    longest_pause: float = 30.0,
) -> None:
    """Run ``start()`` until ``stop`` is set, starting it again whenever it fails."""
    pause = first_pause
    while not stop.is_set():
        try:
            await start()
            pause = first_pause
        except asyncio.CancelledError:
            raise
        except Exception as failure:
            log.error("%s stopped on %s; starting again in %.0f s", name,
                      type(failure).__name__, pause)
            try:
                await asyncio.wait_for(stop.wait(), pause)
            except TimeoutError:
                pause = min(pause * 2, longest_pause)
