"""The whole system, started the way ``make up`` starts it, on fresh databases."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from iopctl.stack import Stack
from iopnet.topics import SERVICES
from tests.conftest import free_port
from tests.fixtures.infra import Endpoints, create_database


@pytest.fixture(scope="session")
async def stack(infra: Endpoints, tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[Stack]:
    databases = {s: await create_database(infra, f"e2e_{s}") for s in SERVICES}
    system = Stack(
        database_url=databases, kafka_bootstrap=infra.kafka_bootstrap,
        ports={s: free_port() for s in SERVICES}, consumer_group_suffix="-e2e",
        log_dir=tmp_path_factory.mktemp("logs"),
    )
    await system.migrate()
    system.start()
    try:
        await system.wait_ready()
        yield system
    finally:
        system.stop()
