"""Fixtures shared by the suite: the real Postgres and Kafka, fresh databases, the stack."""

from __future__ import annotations

import os
import uuid

# Before anything computes a topic name: this run's events stay in topics of
# their own, away from a developer's `make up` on the same broker.
os.environ.setdefault("IOPNET_TOPIC_NAMESPACE", f"test{uuid.uuid4().hex[:8]}")

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import asyncpg
import pytest

from iopctl.pgsql import drop_database
from iopnet.db import create_pool
from iopnet.migrate import apply_migrations
from iopnet.topics import namespace
from tests.fixtures.infra import (
    Endpoints,
    create_database,
    start_infrastructure_sync,
    stop_infrastructure,
)
from tests.fixtures.kafka import drop_topics

FreshDatabase = Callable[[str], Awaitable[str]]


@pytest.fixture(scope="session")
def infra() -> Iterator[Endpoints]:
    endpoints = start_infrastructure_sync()
    print(f"\ninfrastructure: {endpoints.source}, kafka {endpoints.kafka_bootstrap}, "
          f"topics {namespace()}.*", flush=True)
    yield endpoints
    asyncio.run(drop_topics(endpoints.kafka_bootstrap))
    stop_infrastructure()


@pytest.fixture(scope="session")
async def fresh_empty_database(infra: Endpoints) -> AsyncIterator[FreshDatabase]:
    """Makes empty databases, without any schema; drops them afterwards."""
    made: list[str] = []

    async def make(prefix: str) -> str:
        made.append(f"t_{prefix}_{uuid.uuid4().hex[:8]}")
        return await create_database(infra, made[-1])

    yield make
    for name in made:
        await drop_database(infra.pg_admin_dsn, name)


@pytest.fixture(scope="session")
async def fresh_database(fresh_empty_database: FreshDatabase) -> FreshDatabase:
    """Makes empty databases with the shared event-store schema."""

    async def make(prefix: str) -> str:
        dsn = await fresh_empty_database(prefix)
        await apply_migrations(dsn, [])
        return dsn

    return make


@pytest.fixture
async def db_pool(fresh_database: FreshDatabase) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(await fresh_database("store"))
    yield pool
    await pool.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Wait until ``check`` holds, polling; fail with the timeout otherwise."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)
