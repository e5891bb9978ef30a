"""The whole system, started the way ``make up`` starts it, on fresh databases."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from iopctl.pgsql import drop_database
from iopctl.stack import Stack
from iopnet.auth.keys import new_key
from iopnet.topics import SERVICES
from tests.conftest import eventually, free_port
from tests.e2e.client import Api
from tests.e2e.receivers import MailCatcher
from tests.fixtures.infra import Endpoints, restricted_database

#: Delivery timings short enough for a test to watch retries happen.
FAST_DELIVERY = {"IOPNET_DELIVERY_POLL_SECONDS": "0.2", "IOPNET_DELIVERY_BACKOFF_SECONDS": "0.5",
                 "IOPNET_SCHEDULE_BATCH_SETTLE_SECONDS": "0.5",
                 "IOPNET_ALERT_ESCALATION_POLL_SECONDS": "0.5"}


@pytest.fixture(scope="session")
def mail() -> Iterator[MailCatcher]:
    """A real SMTP server the notifications service sends to."""
    catcher = MailCatcher().start()
    yield catcher
    catcher.stop()


@pytest.fixture(scope="session")
async def stack(infra: Endpoints, mail: MailCatcher, tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[Stack]:
    async with running_stack(infra, mail, infra.kafka_bootstrap,
                             tmp_path_factory.mktemp("logs")) as system:
        yield system


@contextlib.asynccontextmanager
async def running_stack(infra: Endpoints, mail: MailCatcher, kafka_bootstrap: str,
                        log_dir: Path) -> AsyncIterator[Stack]:
    """The five services on fresh databases, publishing to ``kafka_bootstrap``."""
    run = uuid.uuid4().hex[:6]
    databases = {s: await restricted_database(infra, f"e2e_{s}_{run}") for s in SERVICES}
    system = Stack.restricted(
        databases, kafka_bootstrap=kafka_bootstrap,
        operator_key=new_key().plaintext, ports={s: free_port() for s in SERVICES},
        consumer_group_suffix=f"-e2e-{run}", log_dir=log_dir,
        extra_env={"IOPNET_SMTP_HOST": mail.host, "IOPNET_SMTP_PORT": str(mail.port),
                   # the webhook receivers listen on 127.0.0.1
                   "IOPNET_WEBHOOK_ALLOW_INTERNAL_ADDRESSES": "true", **FAST_DELIVERY},
    )
    await system.migrate()
    system.start()
    try:
        await system.wait_ready()
        yield system
    finally:
        system.stop()
        for service in SERVICES:
            await drop_database(infra.pg_admin_dsn, f"e2e_{service}_{run}")


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def operator(stack: Stack, http: httpx.AsyncClient) -> Api:
    return Api(stack, http, stack.operator_key)


@dataclass(frozen=True)
class Site:
    site_id: str
    api: Api
    key_id: str


async def known_everywhere(api: Api) -> None:
    """Wait until every service accepts the key (it learns keys from events)."""

    async def accepted() -> bool:
        answers = [await api.get(s, f"/v1/patients/{uuid.uuid4()}") for s in SERVICES]
        return all(a.status_code == 404 for a in answers)

    await eventually(accepted, timeout=30)


async def onboard_site(operator: Api, site_id: str) -> Site:
    await operator.onboard(site_id)
    issued = await operator.issue_key(site_id)
    api = operator.with_key(issued["api_key"])
    await known_everywhere(api)
    return Site(site_id, api, issued["key_id"])


@pytest.fixture(scope="session")
async def north(operator: Api) -> Site:
    return await onboard_site(operator, "site-north")


@pytest.fixture(scope="session")
async def south(operator: Api) -> Site:
    return await onboard_site(operator, "site-south")
