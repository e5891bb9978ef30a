"""Fixtures shared by the suite: the real Postgres and Kafka, fresh databases, the stack."""

from __future__ import annotations

import os
import uuid

# Before anything computes a topic name: this run's events stay in topics of
# their own, away from a developer's `make up` on the same broker. Always a new
# namespace, whatever the shell exported: the suite deletes its topics at the end,
# and must never delete a namespace it did not create.
os.environ["IOPNET_TOPIC_NAMESPACE"] = f"test{uuid.uuid4().hex[:8]}"

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import asyncpg
import pytest

from iopctl.pgsql import drop_database
from iopctl.ports import kafka_controller_port, kafka_port, pg_port
from iopnet.db import create_pool
from iopnet.migrate import apply_migrations
from iopnet.topics import namespace
from tests.fixtures.infra import (
    Endpoints,
    create_database,
    start_infrastructure_sync,
    stop_infrastructure,
)
from tests.fixtures.kafka import drop_topics, topics_of_its_own

FreshDatabase = Callable[[str], Awaitable[str]]


@pytest.fixture(scope="session")
def infra() -> Iterator[Endpoints]:
    endpoints = start_infrastructure_sync()
    print(f"\ninfrastructure: {endpoints.source}, kafka {endpoints.kafka_bootstrap}, "
          f"topics {namespace()}.*", flush=True)
    yield endpoints
    asyncio.run(drop_topics(endpoints.kafka_bootstrap))
    stop_infrastructure()


@pytest.fixture
async def own_topics(infra: Endpoints) -> AsyncIterator[str]:
    """Topics of the test's own: a consumer that starts from the earliest offset then reads
    only the test's events, not every one the run published before (minutes of work on a
    2-core CI runner)."""
    async with topics_of_its_own(infra.kafka_bootstrap) as within:
        yield within


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


#: Ports the suite hands to servers it starts: below Linux's ephemeral range
#: (32768-60999), so no outgoing connection or port-0 bind on the machine takes one
#: between the check and the server's own bind; a random start per run keeps two
#: runs on one machine apart.
_PORTS = iter(range(20000 + secrets.randbelow(1000) * 10, 32768))
_RUNNER_PORTS = {pg_port(), kafka_port(), kafka_controller_port()}


def free_port() -> int:
    """A loopback port nothing listens on now, outside the ephemeral range, and none of
    the local runner's (a developer may start ``make up`` meanwhile)."""
    for port in _PORTS:
        if port in _RUNNER_PORTS:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Wait until ``check`` holds, polling; fail with the timeout otherwise."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)
