"""What a service is, to the shared runtime: its name, routes, schema and projection."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter

from iopnet.consumer import Projection
from iopnet.settings import ServiceSettings
from iopnet.topics import topic_of


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    settings: Callable[[], ServiceSettings]
    routers: Sequence[APIRouter]
    migrations: Path
    projection: Projection | None = None
    description: str = ""

    @property
    def topic(self) -> str:
        return topic_of(self.name)
