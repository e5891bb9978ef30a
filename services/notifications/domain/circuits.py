"""A circuit breaker per webhook endpoint: a failing partner is left alone for a while. Pure.

After ``threshold`` failures in a row, an endpoint's circuit opens for the
cool-down: its messages are deferred to the end of it (recorded, never
dropped) instead of each spending a send slot on a deadline. After the
cool-down the next send tries again; one more failure opens it again, a
success closes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit


def endpoint_of(url: str) -> str:
    """What a circuit is kept for: scheme, host and port (paths share a server)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


@dataclass
class Circuits:
    threshold: int
    cooldown: timedelta
    _failures: dict[str, int] = field(default_factory=dict)
    _open_until: dict[str, datetime] = field(default_factory=dict)

    def open_until(self, endpoint: str, now: datetime) -> datetime | None:
        """When the endpoint may be tried again, while its circuit is open; else None."""
        until = self._open_until.get(endpoint)
        return until if until is not None and now < until else None

    def succeeded(self, endpoint: str) -> None:
        self._failures.pop(endpoint, None)
        self._open_until.pop(endpoint, None)

    def failed(self, endpoint: str, now: datetime) -> None:
        failures = self._failures.get(endpoint, 0) + 1
        self._failures[endpoint] = failures
        if failures >= self.threshold:
            self._open_until[endpoint] = now + self.cooldown
