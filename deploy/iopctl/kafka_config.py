"""Files of the local KRaft broker: cluster id, server.properties, log4j2 config."""

from __future__ import annotations

import base64
import contextlib
import uuid
from pathlib import Path

from iopctl import paths
from iopctl.kafka_principals import ADMIN, MECHANISM, Principals
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


def written_port(config_dir: Path | None = None) -> int | None:
    """The broker port in the server.properties written last (the running broker's)."""
    file = config_dir / "server.properties" if config_dir else server_properties_file()
    with contextlib.suppress(OSError, ValueError):
        for line in file.read_text().splitlines():
            if line.startswith("advertised.listeners="):
                return int(line.rsplit(":", 1)[1])
    return None


def written_with_sasl() -> bool:
    """Whether the server.properties written last asks for SASL (a running broker's)."""
    with contextlib.suppress(OSError):
        return "\nsasl.enabled.mechanisms=" in server_properties_file().read_text()
    return False


def _plain_login(password: str) -> str:
    """The admin, as the broker's own PLAIN users and as its login to itself."""
    return ("org.apache.kafka.common.security.plain.PlainLoginModule required"
            f' username="{ADMIN}" password="{password}" user_{ADMIN}="{password}";')


def _security(principals: Principals) -> dict[str, str]:
    """SASL on every listener, ACLs enforced, the admin the only super user.

    Services log in with SCRAM (credentials in the cluster metadata, made by iopctl);
    the admin with PLAIN, so it exists before any credential does. The controller
    listener takes the admin only.
    """
    plain = _plain_login(principals.admin_password)
    scram = MECHANISM.lower()
    return {
        "sasl.enabled.mechanisms": f"{MECHANISM},PLAIN",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": plain,
        f"listener.name.sasl_plaintext.{scram}.sasl.jaas.config":
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": plain,
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{ADMIN}",
        "allow.everyone.if.no.acl.found": "false",
    }


def server_properties(principals: Principals) -> str:
    port, cport = kafka_port(), kafka_controller_port()
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.bootstrap.servers": f"{HOST}:{cport}",
        "listeners": f"SASL_PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{cport}",
        "advertised.listeners": f"SASL_PLAINTEXT://{HOST}:{port}",
        "inter.broker.listener.name": "SASL_PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map":
            "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        **_security(principals),
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
    return f"# Written by iopctl on every `infra up` (it holds the admin's password).\n{body}\n"


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


def write_config(principals: Principals) -> None:
    paths.kafka_config_dir().mkdir(parents=True, exist_ok=True)
    file = server_properties_file()
    file.touch(mode=0o600)
    file.chmod(0o600)
    file.write_text(server_properties(principals))
    log4j2_file().write_text(log4j2_xml())
