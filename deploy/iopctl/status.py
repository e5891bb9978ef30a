"""The status record every service runner reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    endpoint: str
    detail: str
    healthy: bool = False
    #: Where its files live, e.g. ``("log", Path(...))``: one line each under the status.
    places: tuple[tuple[str, Path], ...] = ()

    def line(self) -> str:
        state = "healthy" if self.healthy else ("running" if self.running else "down")
        head = f"{self.name:<9} {state:<8} {self.endpoint}  ({self.detail})"
        return "\n".join([head, *(f"{'':<9} {what:<8} {where}" for what, where in self.places)])
