"""Postgres + Kafka together: ``up`` runs both concurrently, then prints the endpoints."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from iopctl import kafka, postgres
from iopctl.errors import InfraError
from iopctl.progress import say
from iopctl.status import ServiceStatus


@dataclass(frozen=True)
class LocalEndpoints:
    pg_admin_dsn: str
    kafka_bootstrap: str

    def dsn(self, database: str) -> str:
        return postgres.dsn(database)


def endpoints() -> LocalEndpoints:
    return LocalEndpoints(pg_admin_dsn=postgres.admin_dsn(), kafka_bootstrap=kafka.bootstrap())


async def up() -> LocalEndpoints:
    say("infra", "bringing up postgres and kafka")
    results = await asyncio.gather(postgres.up(), kafka.up(), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    for error in errors:
        if not isinstance(error, Exception):
            raise error
    if errors:
        raise InfraError("\n\n".join(str(e) for e in errors))
    found = endpoints()
    say("infra", "ready")
    print(f"  postgres  {found.pg_admin_dsn}  (databases: {', '.join(postgres.DATABASES)})")
    print(f"  kafka     {found.kafka_bootstrap}", flush=True)
    return found


async def down() -> None:
    await asyncio.gather(kafka.down(), postgres.down())


async def status() -> list[ServiceStatus]:
    return list(await asyncio.gather(postgres.status(), kafka.status()))
