"""Kafka enforces who may publish where: a service's principal writes its own topic only.

The provenance check (iopnet.provenance) believes network events from the network
topic only; these ACLs are what make that topic trustworthy.
"""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import TopicAuthorizationFailedError

from iopctl import topics
from iopctl.kafka_acls import granted
from iopctl.kafka_admin import with_admin
from iopctl.kafka_principals import ADMIN, Principals, local_principals
from iopctl.topics import principals_from_env
from iopnet.topics import NAMESPACE_ENV, namespace, network_topic, topic_of
from tests.fixtures.infra import Endpoints
from tests.fixtures.kafka import drop_topics

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


async def test_the_topics_job_sets_up_the_services_logins_and_acls(
        infra: Endpoints, principals: Principals, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compose's way: `iopctl topics ensure --principals`, logged in as the super user."""
    monkeypatch.setenv(NAMESPACE_ENV, f"own{uuid.uuid4().hex[:8]}")
    admin = {"SECURITY_PROTOCOL": "SASL_PLAINTEXT", "SASL_MECHANISM": "PLAIN",
             "SASL_USERNAME": ADMIN, "SASL_PASSWORD": principals.admin_password}
    for name, value in admin.items():
        monkeypatch.setenv(f"IOPNET_KAFKA_{name}", value)
    for service, password in principals.passwords.items():  # the broker's own: kept
        monkeypatch.setenv(f"IOPNET_KAFKA_{service.upper()}_PASSWORD", password)
    try:
        await topics.ensure(infra.kafka_bootstrap, wait_s=30, principals=principals_from_env())
        await publish(infra, principals, "family", topic_of("family"))
        with pytest.raises(TopicAuthorizationFailedError):
            await publish(infra, principals, "family", network_topic())
    finally:
        await drop_topics(infra.kafka_bootstrap)
    left = await with_admin(infra.kafka_bootstrap, granted)
    assert not [acl for acl in left if acl.resource_name.startswith(namespace() + ".")]
