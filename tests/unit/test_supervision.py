import asyncio
import logging

import pytest

from iopnet.supervision import keep_running, run_until_stopped

pytestmark = pytest.mark.unit


async def test_a_failing_loop_is_started_again_until_stopped() -> None:
    stop = asyncio.Event()
    starts = 0

    async def flaky() -> None:
        nonlocal starts
        starts += 1
        if starts < 3:
            raise ConnectionError("broker unreachable")
        await stop.wait()  # healthy now: runs until told to stop

    supervised = asyncio.create_task(keep_running("relay", flaky, stop, first_pause=0.01))
    while starts < 3:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(supervised, 1)
    assert starts == 3


async def test_stopping_during_a_pause_ends_at_once() -> None:
    stop = asyncio.Event()

    async def broken() -> None:
        raise OSError("database restarting")

    supervised = asyncio.create_task(keep_running("consumer", broken, stop, first_pause=60))
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(supervised, 1)


async def test_a_healthy_run_resets_the_pause(caplog: pytest.LogCaptureFixture) -> None:
    stop = asyncio.Event()
    runs = 0

    async def outage_then_health() -> None:
        nonlocal runs
        runs += 1
        if runs <= 3:
            raise OSError("database restarting")  # fails at once: the pause grows
        if runs == 4:
            await asyncio.sleep(0.3)  # healthy for longer than healthy_after
            raise OSError("a new outage")
        stop.set()

    with caplog.at_level(logging.ERROR, logger="iopnet.supervision"):
        await asyncio.wait_for(keep_running("consumer", outage_then_health, stop,
                                            first_pause=0.01, healthy_after=0.25), 5)
    pauses = [record.args[2] for record in caplog.records if isinstance(record.args, tuple)]
    assert pauses == [0.01, 0.02, 0.04, 0.01]


async def test_a_stop_waits_for_the_work_under_way_within_the_grace() -> None:
    stop = asyncio.Event()
    finished = asyncio.Event()

    async def batch_under_way() -> None:
        await stop.wait()
        await asyncio.sleep(0.05)  # the batch it was applying when told to stop
        finished.set()

    running = asyncio.create_task(run_until_stopped([batch_under_way()], stop, grace=5))
    stop.set()
    await asyncio.wait_for(running, 1)
    assert finished.is_set()


async def test_work_still_busy_after_the_grace_is_cancelled() -> None:
    stop = asyncio.Event()
    cancelled = asyncio.Event()

    async def endless_round() -> None:
        try:
            await asyncio.Event().wait()  # a round that would never end by itself
        except asyncio.CancelledError:
            cancelled.set()
            raise

    running = asyncio.create_task(run_until_stopped([endless_round()], stop, grace=0.05))
    stop.set()
    await asyncio.wait_for(running, 1)
    assert cancelled.is_set()


async def test_a_loop_that_dies_stops_the_others_and_says_why() -> None:
    stop = asyncio.Event()

    async def dies() -> None:
        raise SystemError("unexpected")

    with pytest.raises(SystemError):
        await asyncio.wait_for(run_until_stopped([dies(), stop.wait()], stop, grace=1), 1)
    assert stop.is_set()
