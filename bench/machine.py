"""Where the machine's CPU goes while a round runs, by kind of process.

A write route's throughput is not bound by its API alone: on two cores the same
CPU runs Postgres, the broker, the consumers reacting to what the route wrote, and
the load generator. Reading every process's user + system time from /proc before
and after a round (and the machine's busy time from /proc/stat) gives each kind's
CPU a request, and so the rate the machine could sustain if the route had it all:
cores / CPU a request.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

#: A process's kind, from its pid and command name; None: counted only in "rest".
Classify = Callable[[int, str], str | None]

REST = "rest of the machine"
KINDS_BY_COMMAND = {"postgres": "Postgres", "java": "Kafka broker"}
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Usage:
    """CPU seconds by kind, and the machine's busy seconds, at one moment."""

    by_kind: Mapping[str, float]
    busy: float

    def since(self, earlier: Usage) -> dict[str, float]:
        """CPU seconds by kind between ``earlier`` and now; what no kind explains is REST."""
        used = {kind: max(seconds - earlier.by_kind.get(kind, 0.0), 0.0)
                for kind, seconds in self.by_kind.items()}
        used[REST] = max(self.busy - earlier.busy - sum(used.values()), 0.0)
        return used


def classifier(named: Mapping[int, str]) -> Classify:
    """Processes named by pid first, then Postgres and the broker by their command."""
    def kind(pid: int, command: str) -> str | None:
        return named.get(pid) or KINDS_BY_COMMAND.get(command)
    return kind


def usage(classify: Classify) -> Usage:
    by_kind: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it ended meanwhile
        command = stat[stat.index("(") + 1:stat.rindex(")")]
        if (kind := classify(int(entry.name), command)) is not None:
            fields = stat.rsplit(")", 1)[1].split()
            by_kind[kind] = by_kind.get(kind, 0.0) + (int(fields[11]) + int(fields[12])) / _TICK
    return Usage(by_kind, _busy_seconds())


def _busy_seconds() -> float:
    """All cores' time not idle nor waiting for I/O, since boot."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks[:8]
    return (user + nice + system + irq + softirq + steal) / _TICK
