"""Load shapes: a closed loop of requests at a fixed concurrency, and an open loop at a rate."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import machine

Send = Callable[[], Awaitable[httpx.Response]]


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def load_average() -> float:
    """The machine's one-minute load average: the bench shares two cores with others."""
    return os.getloadavg()[0]


@dataclass
class Round:
    """One closed-loop round of one route."""

    route: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    load: float = 0.0
    #: CPU the serving process spent (user + system): what bounds throughput on a
    #: machine short of cores, and far steadier than throughput when others load it.
    cpu_seconds: float = 0.0
    #: After the last answer, until the work the round caused was done.
    settle_seconds: float = 0.0
    #: CPU seconds by kind of process on the whole machine (``bench.machine``).
    machine: dict[str, float] = field(default_factory=dict)

    def machine_ms(self, kind: str | None) -> float:
        """CPU a request of that kind of process, or of all of them (None)."""
        if not self.latencies:
            return 0.0
        spent = sum(self.machine.values()) if kind is None else self.machine.get(kind, 0.0)
        return spent / len(self.latencies) * 1000

    @property
    def cpu_ms(self) -> float:
        return self.cpu_seconds / len(self.latencies) * 1000 if self.latencies else 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies, 0.99) * 1000


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def closed_loop(route: str, sends: Iterator[Send], concurrency: int,
                      expect: int = 201, server: int | None = None,
                      classify: machine.Classify | None = None,
                      settle: Callable[[], Awaitable[None]] | None = None,
                      ) -> tuple[Round, list[httpx.Response]]:
    """Send every request of ``sends``, ``concurrency`` at a time; each must answer ``expect``.
    ``server``: the pid of the process serving them, whose CPU time is measured;
    ``classify``: the kinds of process whose CPU is measured on the whole machine, until
    ``settle`` returns: once the system has done all the work the round's requests caused
    (the consumers' too), so that a round is charged its own work and not the last one's."""
    measured = Round(route)
    answers: list[httpx.Response] = []

    async def worker() -> None:
        for send in sends:  # one shared iterator: each request is sent once
            started = time.perf_counter()
            answer = await send()
            measured.latencies.append(time.perf_counter() - started)
            if answer.status_code != expect:
                raise RuntimeError(f"{route}: {answer.status_code} {answer.text[:300]}")
            answers.append(answer)

    before = machine.usage(classify) if classify else None
    started, cpu = time.perf_counter(), cpu_seconds(server) if server else 0.0
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    measured.seconds = time.perf_counter() - started
    measured.cpu_seconds = cpu_seconds(server) - cpu if server else 0.0
    measured.load = load_average()
    if settle is not None:
        settling = time.perf_counter()
        await settle()
        measured.settle_seconds = time.perf_counter() - settling
    if classify and before:
        measured.machine = machine.usage(classify).since(before)
    return measured, answers


async def open_loop(start: Callable[[], Awaitable[object]], rate: float, count: int,
                    in_flight: int = 256) -> float:
    """Start ``count`` jobs at ``rate`` a second whether or not the earlier ones finished
    (a sustained load, not one that slows down with the system); the seconds taken.
    At most ``in_flight`` jobs run at once, so an overloaded system cannot pile up
    without bound."""
    gate = asyncio.Semaphore(in_flight)
    begun = time.perf_counter()
    jobs: list[asyncio.Task[None]] = []

    async def one() -> None:
        async with gate:
            await start()

    for n in range(count):
        await asyncio.sleep(max(0.0, begun + n / rate - time.perf_counter()))
        jobs.append(asyncio.create_task(one()))
    await asyncio.gather(*jobs)
    return time.perf_counter() - begun
