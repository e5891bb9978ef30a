"""Keeping a worker's loops alive through a broker or database outage.

A relay, a consumer or a background job that fails (Kafka unreachable, the
database restarting) is started again after a pause that doubles up to a
ceiling, so the worker heals by itself when the outage ends; the outbox keeps
what was recorded meanwhile. A loop that ran healthy for a while before it
failed starts again after the first pause, not the last one. Stopping
(SIGTERM) ends the loop for good.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

log = logging.getLogger(__name__)


async def keep_running(
    name: str,
    start: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    *,
    first_pause: float = 1.0,
    longest_pause: float = 30.0,
    healthy_after: float = 60.0,
) -> None:
    """Run ``start()`` until ``stop`` is set, starting it again whenever it fails.

    A run that lasted ``healthy_after`` seconds resets the pause: the outage it
    ended on is a new one.
    """
    pause = first_pause
    while not stop.is_set():
        started = time.monotonic()
        try:
            await start()
            pause = first_pause
        except asyncio.CancelledError:
            raise
        except Exception as failure:
            if time.monotonic() - started >= healthy_after:
                pause = first_pause
            log.error("%s stopped on %s; starting again in %.0f s", name,
                      type(failure).__name__, pause)
            try:
                await asyncio.wait_for(stop.wait(), pause)
            except TimeoutError:
                pause = min(pause * 2, longest_pause)


async def run_until_stopped(loops: Sequence[Awaitable[None]], stop: asyncio.Event,
                            grace: float) -> None:
    """Run ``loops`` until ``stop`` is set, then give them ``grace`` seconds to end and
    cancel those still running. A loop that ends before the stop (a failure
    ``keep_running`` does not catch) stops the others, and its failure is raised."""
    running = [asyncio.ensure_future(loop) for loop in loops]
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([*running, stopping], return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            if late:
                log.warning("%d loop(s) still busy %.0f s after the stop: cancelled",
                            len(late), grace)
                for task in late:
                    task.cancel()
                await asyncio.wait(late)
    finally:
        stopping.cancel()
        for task in running:
            task.cancel()  # only when this itself is cancelled: the others are done
    for task in running:
        if not task.cancelled() and (failure := task.exception()) is not None:
            raise failure
