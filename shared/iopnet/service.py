"""What a service is, to the shared runtime: its name, routes, schema and projection."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from fastapi import APIRouter

from iopnet.auth.registry import network_projection
from iopnet.consumer import Projection, Projector
from iopnet.forgetting import forgetting_projection
from iopnet.migrate import DataUpgrade, apply_migrations
from iopnet.rebuild import Sources
from iopnet.settings import ServiceSettings
from iopnet.topics import network_topic, topic_of
from iopnet.transfers import site_in

#: Derived tables every service keeps: the network registry.
SHARED_DERIVED_TABLES = ("sites", "api_keys")

#: A loop a service's worker runs beside its relay and consumer (e.g. due reminders).
BackgroundJob = Callable[[asyncpg.Pool, ServiceSettings, asyncio.Event], Awaitable[None]]


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    settings: Callable[[], ServiceSettings]
    routers: Sequence[APIRouter]
    migrations: Path
    projection: Projection | None = None
    description: str = ""
    #: Tables with a patient_id column: their rows follow a patient to a new site on
    #: transfer, and are deleted (last listed first) when the patient is forgotten.
    patient_tables: Sequence[str] = ()
    #: False for the service that records the network's events and projects them itself.
    learns_network_from_kafka: bool = True
    #: The table (keyed by patient_id) whose site_id says where the service keeps a
    #: patient now: consumed events are projected with that site (iopnet.transfers).
    patient_site_table: str = ""
    #: Loops the worker runs until it is told to stop.
    background: Sequence[BackgroundJob] = ()
    #: Rows of earlier releases turned into events, after the SQL migrations.
    upgrades: Sequence[DataUpgrade] = ()
    #: Its own tables written only by projections (docs/architecture.md, "Tables:
    #: bookkeeping or derived"); with the shared registry's, what a rebuild rebuilds.
    derived_tables: Sequence[str] = ()
    #: The projection of its own events, run in the transaction that records them.
    project_own: Projector | None = None

    async def migrate(self, dsn: str) -> list[str]:
        """Bring a database to this release: shared schema, own schema, data upgrades."""
        return await apply_migrations(dsn, [self.migrations], self.upgrades)

    @property
    def topic(self) -> str:
        return topic_of(self.name)

    def publishes_to(self) -> list[str]:
        """Its own topic; the service that keeps the registry publishes the network's too."""
        return [self.topic] if self.learns_network_from_kafka else [self.topic, network_topic()]

    def rebuild_sources(self) -> Sources:
        """Its derived tables, and what builds them: its own events through ``project_own``,
        the events it consumed through its consumer's projectors."""
        tables = [*SHARED_DERIVED_TABLES, *self.derived_tables]
        return Sources(tables=tables, own=self.project_own, consumed=self.consumer_projection(),
                       patient_site_table=self.patient_site_table)

    def consumer_projection(self) -> Projection | None:
        """Everything its consumer applies: its own projection, the network registry,
        and forgetting a patient."""
        if not self.learns_network_from_kafka:
            return self.projection
        common = network_projection(self.patient_tables).merged(
            forgetting_projection(self.patient_tables))
        merged = common.merged(self.projection) if self.projection else common
        if not self.patient_site_table:
            return merged
        return dataclasses.replace(merged, patient_site=site_in(self.patient_site_table))
