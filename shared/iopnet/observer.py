"""A plain ASGI middleware that reports every HTTP response once it has been sent.

Audit rows and latency metrics both need the final status, the matched route
and the time taken. Plain ASGI (rather than Starlette's BaseHTTPMiddleware)
keeps that to a wrapped ``send`` with no extra task per request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class Exchange:
    """One finished request, as observers see it."""

    scope: Scope
    status: int
    seconds: float

    @property
    def route(self) -> str:
        """The route template (``/v1/patients/{patient_id}``), never the raw path."""
        return str(getattr(self.scope.get("route"), "path", "unrouted"))

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def path(self) -> str:
        return str(self.scope["path"])

    @property
    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.scope.get("state", {})
        return state

    def header(self, name: bytes) -> str | None:
        for key, value in self.scope.get("headers", ()):
            if key == name:
                return str(value.decode("latin-1"))
        return None


Observer = Callable[[Exchange], Awaitable[None]]


class ResponseObserver:
    def __init__(self, app: ASGIApp, observe: Observer) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            await self.observe(Exchange(scope, status, time.perf_counter() - started))
