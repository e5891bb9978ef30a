"""Kafka is not a way in: a record is believed only from its producer, on its own topic.

Reproduces the attack of issue 11: whoever can write to any topic a service reads
(a compromised family pod, say) produces an ``ApiKeyIssued`` with the operator
scope. No service may accept that key.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from iopctl.kafka_principals import admin_options
from iopctl.stack import Stack, spec_of
from iopnet.auth.keys import new_key
from iopnet.catalog import ApiKeyIssued, Scope
from iopnet.envelope import EventEnvelope
from iopnet.kafka_binding import to_record
from iopnet.topics import network_topic, topic_of
from tests.conftest import eventually
from tests.e2e.client import Api
from tests.e2e.conftest import Site

pytestmark = pytest.mark.e2e

CONSUMERS = ("plans", "sessions", "family", "notifications")


async def forge(stack: Stack, topic: str, source: str, scopes: list[Scope], site_id: str
                ) -> tuple[str, str]:
    """Produce an ApiKeyIssued as an attacker would: the key it mints, and the event's id."""
    key = new_key()
    event = ApiKeyIssued(site_id=site_id, key_id=key.key_id, secret_sha256=key.secret_sha256,
                         scopes=scopes)
    envelope = EventEnvelope(source=source, type=event.event_type, subject=site_id,
                             siteid=site_id, streamid=f"key-{key.key_id}", streamversion=1,
                             correlationid="forged", causationid="forged",
                             data=event.model_dump(mode="json"))
    record = to_record(envelope)
    # The suite's admin: it may write any topic, as a compromised producer could.
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap,
                                **admin_options(stack.kafka_bootstrap))
    await producer.start()
    try:
        await producer.send_and_wait(topic, record.value, key=record.key,
                                     headers=record.headers)
    finally:
        await producer.stop()
    return key.plaintext, envelope.id


async def dead_lettered(stack: Stack, service: str, event_id: str) -> bool:
    conn = await asyncpg.connect(stack.database_url[service])
    try:
        return bool(await conn.fetchval(
            "SELECT count(*) FROM dead_letters WHERE event_id = $1", event_id))
    finally:
        await conn.close()


@pytest.mark.parametrize(("topic", "source", "scopes"), [
    (lambda: topic_of("family"), "/iopnet/family", [Scope.OPERATOR]),
    (lambda: topic_of("family"), "/iopnet/intake", [Scope.READ]),
    (network_topic, "/iopnet/family", [Scope.READ]),
    (network_topic, "/iopnet/intake", [Scope.OPERATOR]),
], ids=["operator-on-family-topic", "intake-source-on-family-topic",
        "family-source-on-network-topic", "operator-scope-on-network-topic"])
async def test_a_forged_key_is_accepted_by_no_service(
    stack: Stack, operator: Api, north: Site, topic: Callable[[], str], source: str,
    scopes: list[Scope],
) -> None:
    plaintext, event_id = await forge(stack, topic(), source, scopes, north.site_id)
    forged = operator.with_key(plaintext)

    readers = [s for s in CONSUMERS if topic() in spec_of(s).consumer_projection().topics]
    assert readers

    async def refused_by_every_reader() -> bool:
        return all([await dead_lettered(stack, s, event_id) for s in readers])

    await eventually(refused_by_every_reader, timeout=15)
    for service in CONSUMERS:
        answer = await forged.get(service, f"/v1/patients/{uuid.uuid4()}")
        assert answer.status_code == 401, service
