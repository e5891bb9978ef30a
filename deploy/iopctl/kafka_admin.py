"""Broker-agnostic Kafka admin steps over aiokafka: readiness probe and topic creation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from iopctl.kafka_acls import all_acls, grant
from iopctl.kafka_principals import admin_options, local_principals
from iopnet.topics import TopicSpec, all_topics, namespace

_TOPIC_ALREADY_EXISTS = 36
T = TypeVar("T")


def _client(bootstrap: str) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="iopctl", request_timeout_ms=10_000,
        **admin_options(bootstrap),
    )


async def with_admin(bootstrap: str,
                     call: Callable[[AIOKafkaAdminClient], Awaitable[T]]) -> T:
    """``call`` with a started admin client, closed afterwards."""
    admin = _client(bootstrap)
    try:
        await admin.start()
        return await call(admin)
    finally:
        await admin.close()


async def list_topics(bootstrap: str) -> list[str]:
    """One real admin round trip; raises if the broker does not answer."""
    admin = _client(bootstrap)
    try:
        await admin.start()
        return list(await admin.list_topics())
    finally:
        await admin.close()


async def wait_ready(bootstrap: str, timeout_s: float) -> None:
    """Retry ``list_topics`` until it answers or ``timeout_s`` passes (then re-raise)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await list_topics(bootstrap)
            return
        except Exception:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.5)


async def ensure_topics(
    bootstrap: str, specs: Iterable[TopicSpec] | None = None, timeout_s: float = 30.0,
    *, align: bool = False,
) -> list[str]:
    """Create the missing topics with their durability settings (idempotent); wait until all
    are listed; return the new ones. All of a namespace's topics (no ``specs``) on a local
    broker with per-service principals: the services' ACLs on them too.

    An existing topic whose settings differ is an error naming each difference, unless
    ``align`` (the local runner's own broker): then its settings are brought in line.
    """
    wanted = list(specs if specs is not None else all_topics())
    admin = _client(bootstrap)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [spec for spec in wanted if spec.name not in existing]
        if missing:
            await _create(admin, missing)
        await _check_settings(admin, [s for s in wanted if s.name in existing], align)
        deadline = time.monotonic() + timeout_s
        names = {spec.name for spec in wanted}
        while not names <= set(await admin.list_topics()):
            if time.monotonic() >= deadline:
                raise RuntimeError(f"topics not visible after {timeout_s}s: {sorted(names)}")
            await asyncio.sleep(0.2)
        if specs is None and local_principals(bootstrap) is not None:
            await grant(admin, all_acls(namespace()))
        return [spec.name for spec in missing]
    finally:
        await admin.close()


async def _create(admin: AIOKafkaAdminClient, specs: list[TopicSpec]) -> None:
    response = await admin.create_topics([
        NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.config)
        for s in specs])
    failures = [
        f"{error[0]}: code {error[1]} {error[2] if len(error) > 2 else ''}".strip()
        for error in response.topic_errors
        if error[1] not in (0, _TOPIC_ALREADY_EXISTS)
    ]
    if failures:
        raise RuntimeError("create_topics failed: " + "; ".join(failures))


class TopicSettingsDiffer(RuntimeError):
    """An existing topic is not set up as durably as iopnet needs."""


async def topic_settings(admin: AIOKafkaAdminClient, names: list[str]
                         ) -> dict[str, dict[str, str]]:
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in names])
    return {resource[3]: {entry[0]: entry[1] for entry in resource[4]}
            for response in responses for resource in response.resources}


async def _check_settings(admin: AIOKafkaAdminClient, specs: list[TopicSpec], align: bool
                          ) -> None:
    if not specs:
        return
    actual = await topic_settings(admin, [spec.name for spec in specs])
    differences = {
        spec.name: {k: v for k, v in spec.config.items() if actual[spec.name].get(k) != v}
        for spec in specs}
    differences = {name: diff for name, diff in differences.items() if diff}
    if differences and align:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, s.name, s.config)
                                   for s in specs if s.name in differences])
    elif differences:
        lines = [f"{name}: {key} is {actual[name].get(key)!r}, iopnet needs {value!r}"
                 for name, diff in sorted(differences.items()) for key, value in diff.items()]
        raise TopicSettingsDiffer("existing topics differ from what iopnet needs:\n  "
                                  + "\n  ".join(lines))
