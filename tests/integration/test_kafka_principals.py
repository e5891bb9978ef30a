"""Kafka enforces who may publish where: a service's principal writes its own topic only.

The provenance check (iopnet.provenance) believes network events from the network
topic only; these ACLs are what make that topic trustworthy.
"""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import TopicAuthorizationFailedError

from iopctl.kafka_principals import Principals, local_principals
from iopnet.topics import network_topic, topic_of
from tests.fixtures.infra import Endpoints

pytestmark = pytest.mark.integration


@pytest.fixture
def principals(infra: Endpoints) -> Principals:
    found = local_principals(infra.kafka_bootstrap)
    if found is None:
        pytest.skip("a broker without per-service principals (only iopctl's local broker has)")
    return found


async def publish(infra: Endpoints, principals: Principals, service: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all",
                                enable_idempotence=True, **principals.service_options(service))
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{}", key=b"site-n")
    finally:
        await producer.stop()


async def test_family_cannot_write_the_network_topic(
        infra: Endpoints, principals: Principals) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await publish(infra, principals, "family", network_topic())


async def test_a_service_writes_its_own_topic_and_intake_the_network_topic(
        infra: Endpoints, principals: Principals) -> None:
    await publish(infra, principals, "family", topic_of("family"))
    await publish(infra, principals, "intake", network_topic())


async def test_a_service_cannot_read_a_topic_it_does_not_consume(
        infra: Endpoints, principals: Principals) -> None:
    reader = AIOKafkaConsumer(topic_of("notifications"), group_id="family-acl-test",
                              bootstrap_servers=infra.kafka_bootstrap,
                              **principals.service_options("family"))
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await reader.start()
    finally:
        await reader.stop()
