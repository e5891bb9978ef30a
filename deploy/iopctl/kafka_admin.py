"""Broker-agnostic Kafka admin steps over aiokafka: readiness probe and topic creation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from iopnet.settings import ServiceSettings
from iopnet.topics import TopicSpec, all_topics

_TOPIC_ALREADY_EXISTS = 36


class _KafkaSecurity(ServiceSettings):
    """Only for its IOPNET_KAFKA_* security settings, as the services read them."""

    service_name: str = "iopctl"
    http_port: int = 0


def _client(bootstrap: str) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="iopctl", request_timeout_ms=10_000,
        **_KafkaSecurity().kafka_client_options(),
    )


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
    bootstrap: str, specs: Iterable[TopicSpec] | None = None, timeout_s: float = 30.0
) -> list[str]:
    """Create the missing topics (idempotent); wait until all are listed; return the new ones."""
    wanted = list(specs if specs is not None else all_topics())
    admin = _client(bootstrap)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [spec for spec in wanted if spec.name not in existing]
        if missing:
            response = await admin.create_topics(
                [NewTopic(s.name, s.partitions, s.replication_factor) for s in missing]
            )
            failures = [
                f"{error[0]}: code {error[1]} {error[2] if len(error) > 2 else ''}".strip()
                for error in response.topic_errors
                if error[1] not in (0, _TOPIC_ALREADY_EXISTS)
            ]
            if failures:
                raise RuntimeError("create_topics failed: " + "; ".join(failures))
        deadline = time.monotonic() + timeout_s
        names = {spec.name for spec in wanted}
        while not names <= set(await admin.list_topics()):
            if time.monotonic() >= deadline:
                raise RuntimeError(f"topics not visible after {timeout_s}s: {sorted(names)}")
            await asyncio.sleep(0.2)
        return [spec.name for spec in missing]
    finally:
        await admin.close()
