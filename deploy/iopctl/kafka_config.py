"""Files of the local KRaft broker: cluster id, server.properties, log4j2 config."""

from __future__ import annotations

import base64
import contextlib
import uuid
from pathlib import Path

from iopctl import paths
from iopctl.ports import HOST, kafka_controller_port, kafka_port

NODE_ID = 1


def cluster_id() -> str:
    """The cluster id, generated once (Kafka's base64url, unpadded UUID format)."""
    file = paths.kafka_config_dir() / "cluster.id"
    if file.exists():
        return file.read_text().strip()
    while True:
        value = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not value.startswith("-"):  # Kafka rejects ids that look like a CLI flag
            break
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(value + "\n")
    return value


def server_properties_file() -> Path:
    return paths.kafka_config_dir() / "server.properties"


def log4j2_file() -> Path:
    return paths.kafka_config_dir() / "log4j2.xml"


def written_port() -> int | None:
    """The broker port in the server.properties written last (the running broker's)."""
    with contextlib.suppress(OSError, ValueError):
        for line in server_properties_file().read_text().splitlines():
            if line.startswith("advertised.listeners="):
                return int(line.rsplit(":", 1)[1])
    return None


def server_properties() -> str:
    port, cport = kafka_port(), kafka_controller_port()
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.bootstrap.servers": f"{HOST}:{cport}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{cport}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(paths.kafka_data_dir()),
        "auto.create.topics.enable": "false",
        "num.partitions": "6",
        "offsets.topic.replication.factor": "1",
        # Fewer internal partitions: the first consumer group / transaction starts faster.
        "offsets.topic.num.partitions": "6",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "6",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    body = "\n".join(f"{key}={value}" for key, value in lines.items())
    return f"# Written by iopctl on every `infra up`.\n{body}\n"


def log4j2_xml() -> str:
    log = paths.logs_dir() / "kafka.log"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by iopctl: no console output, WARN+ to a file, broker startup at INFO. -->
<Configuration status="warn">
  <Appenders>
    <File name="file" fileName="{log}" append="true">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Root level="WARN"><AppenderRef ref="file"/></Root>
    <Logger name="kafka.server.KafkaRaftServer" level="INFO"/>
    <Logger name="kafka.server.BrokerServer" level="INFO"/>
    <Logger name="kafka.server.ControllerServer" level="INFO"/>
    <Logger name="kafka.Kafka" level="INFO"/>
  </Loggers>
</Configuration>
"""


def write_config() -> None:
    paths.kafka_config_dir().mkdir(parents=True, exist_ok=True)
    server_properties_file().write_text(server_properties())
    log4j2_file().write_text(log4j2_xml())
