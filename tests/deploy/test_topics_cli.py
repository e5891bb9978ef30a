"""``iopctl topics ensure``: what Compose and the Helm chart's topic job run."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from iopctl import topics
from iopctl.cli import build_parser, main
from iopctl.kafka_admin import TopicSettingsDiffer, ensure_topics, topic_settings
from iopctl.kafka_principals import admin_options
from iopnet.topics import RETENTION_MS, TopicSpec, all_topics, durability
from tests.fixtures.infra import Endpoints


def test_the_command_is_registered() -> None:
    args = build_parser().parse_args(
        ["topics", "ensure", "--bootstrap", "kafka:9092", "--replication-factor", "3"])
    assert args.handler.__module__ == "iopctl.topics"
    assert (args.bootstrap, args.replication_factor) == ("kafka:9092", 3)


def test_the_bootstrap_defaults_to_the_services_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOPNET_KAFKA_BOOTSTRAP", "broker:9093")
    assert topics.default_bootstrap() == "broker:9093"
    monkeypatch.delenv("IOPNET_KAFKA_BOOTSTRAP")
    monkeypatch.setenv("IOPNET_KAFKA_PORT", "12345")
    assert topics.default_bootstrap() == "127.0.0.1:12345"


def test_no_broker_is_an_error_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topics", "ensure", "--bootstrap", "127.0.0.1:9", "--wait", "0.5"]) == 1
    assert "no Kafka broker answered at 127.0.0.1:9" in capsys.readouterr().err


@pytest.mark.integration
async def test_ensure_is_idempotent(infra: Endpoints) -> None:
    await topics.ensure(infra.kafka_bootstrap, wait_s=30)
    assert await topics.ensure(infra.kafka_bootstrap, wait_s=30) == []
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap,
                                **admin_options(infra.kafka_bootstrap))
    await admin.start()
    try:
        described = await admin.describe_topics([spec.name for spec in all_topics()])
    finally:
        await admin.close()
    partitions = {d["topic"]: len(d["partitions"]) for d in described}
    assert partitions == {spec.name: spec.partitions for spec in all_topics()}


@pytest.mark.integration
async def test_topics_are_made_durable_and_a_differing_one_fails_unless_aligned(
    infra: Endpoints,
) -> None:
    spec = TopicSpec(f"durability-{uuid.uuid4().hex[:8]}", partitions=1)
    assert await ensure_topics(infra.kafka_bootstrap, [spec]) == [spec.name]
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap,
                                **admin_options(infra.kafka_bootstrap))
    await admin.start()
    try:
        settings = (await topic_settings(admin, [spec.name]))[spec.name]
        assert {k: settings[k] for k in spec.config} == durability(1)
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, spec.name,
                                                  {"retention.ms": "1000"})])
        with pytest.raises(TopicSettingsDiffer, match=r"retention\.ms is '1000'"):
            await ensure_topics(infra.kafka_bootstrap, [spec])
        await ensure_topics(infra.kafka_bootstrap, [spec], align=True)
        settings = (await topic_settings(admin, [spec.name]))[spec.name]
        assert settings["retention.ms"] == str(RETENTION_MS)
        await admin.delete_topics([spec.name])
    finally:
        await admin.close()


def test_three_replicas_need_two_in_sync_and_never_elect_an_unclean_leader() -> None:
    assert durability(3)["min.insync.replicas"] == "2"
    assert durability(1)["min.insync.replicas"] == "1"
    assert durability(3)["unclean.leader.election.enable"] == "false"
