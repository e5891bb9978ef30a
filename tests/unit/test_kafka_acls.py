"""Each service's Kafka principal may write its own topic only, and read what it consumes."""

from pathlib import Path

import pytest

from iopctl import kafka_config
from iopctl.kafka_acls import (
    DESCRIBE,
    GROUP,
    PREFIXED,
    READ,
    TOPIC,
    WRITE,
    all_acls,
    service_acls,
)
from iopctl.kafka_principals import (
    admin_options,
    load_or_create,
    principal_of,
    register,
    service_env,
)
from iopctl.stack import spec_of
from iopnet.topics import SERVICES, network_topic

pytestmark = pytest.mark.unit


def test_family_writes_its_own_topic_only() -> None:
    acls = service_acls("family", "ns")
    assert {a.resource_name for a in acls if a.operation == WRITE} == {"ns.family.events"}
    assert {a.principal for a in acls} == {"User:iopnet-family"}


def test_only_intake_writes_the_network_topic() -> None:
    writers = {a.principal for a in all_acls("ns")
               if a.resource_name == network_topic("ns") and a.operation == WRITE}
    assert writers == {f"User:{principal_of('intake')}"}


def test_every_service_reads_what_its_consumer_subscribes_to() -> None:
    for service in SERVICES:
        projection = spec_of(service).consumer_projection()
        subscribed = {topic.replace(f"{topic.split('.')[0]}.", "ns.", 1)
                      for topic in (projection.topics if projection else [])}
        readable = {a.resource_name for a in service_acls(service, "ns")
                    if a.resource_type == TOPIC and a.operation == READ}
        assert readable == subscribed, service


def test_a_service_uses_the_consumer_groups_named_after_it() -> None:
    groups = {(a.resource_name, a.pattern, a.operation) for a in service_acls("plans", "ns")
              if a.resource_type == GROUP}
    assert groups == {("plans", PREFIXED, READ), ("plans", PREFIXED, DESCRIBE)}


def test_the_broker_takes_authenticated_clients_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOPNET_HOME", str(tmp_path))
    properties = dict(line.split("=", 1) for line in
                      kafka_config.server_properties(load_or_create()).splitlines()[1:])
    assert all(listener.startswith(("SASL_PLAINTEXT://", "CONTROLLER://"))
               for listener in properties["listeners"].split(","))
    assert set(properties["listener.security.protocol.map"].split(",")) == {
        "SASL_PLAINTEXT:SASL_PLAINTEXT", "CONTROLLER:SASL_PLAINTEXT"}
    assert properties["authorizer.class.name"].endswith("StandardAuthorizer")
    assert properties["super.users"] == "User:iopnet-admin"
    assert properties["allow.everyone.if.no.acl.found"] == "false"
    assert properties["sasl.enabled.mechanisms"].startswith("SCRAM-SHA-512")


def test_passwords_are_made_once_and_kept_private(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOPNET_HOME", str(tmp_path))
    first = load_or_create()
    assert load_or_create() == first
    assert len(set(first.passwords.values()) | {first.admin_password}) == len(SERVICES) + 1
    assert (tmp_path / "kafka" / "config" / "principals.json").stat().st_mode & 0o077 == 0
    assert first.service_env("family")["IOPNET_KAFKA_SASL_USERNAME"] == "iopnet-family"


def test_clients_find_a_local_brokers_principals_by_its_port(tmp_path: Path) -> None:
    config = tmp_path / "kafka" / "config"
    principals = load_or_create(config)
    (config / "server.properties").write_text(
        "advertised.listeners=SASL_PLAINTEXT://127.0.0.1:39999\n")
    register(39999, config)
    env = service_env("127.0.0.1:39999", "family")
    assert (env["IOPNET_KAFKA_SASL_USERNAME"], env["IOPNET_KAFKA_SASL_PASSWORD"]) == (
        "iopnet-family", principals.passwords["family"])
    assert admin_options("127.0.0.1:39999")["sasl_plain_username"] == "iopnet-admin"
    assert service_env("127.0.0.1:39998", "family") == {}  # another broker: no login
