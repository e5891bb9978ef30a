"""The status record every service runner reports."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    endpoint: str
    detail: str
    healthy: bool = False

    def line(self) -> str:
        state = "healthy" if self.healthy else ("running" if self.running else "down")
        return f"{self.name:<9} {state:<8} {self.endpoint}  ({self.detail})"
