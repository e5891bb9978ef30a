"""Loopback host and ports, overridable by environment variables.

Defaults stay clear of a system Postgres (5432) and a system Kafka (9092/9093),
and below Linux's ephemeral range (32768-60999, ``net.ipv4.ip_local_port_range``):
the kernel hands ports from that range to outgoing connections, so a client
reconnecting to 127.0.0.1:<port> while nothing listens there can be given that
very port as its own and connect to itself (a TCP self-connect, which once
happened on the old default 55432).
"""

from __future__ import annotations

import os

from iopctl.errors import InfraError
from iopnet.settings import DEFAULT_KAFKA_PORT, DEFAULT_PG_PORT

HOST = "127.0.0.1"
DEFAULT_KAFKA_CONTROLLER_PORT = 29093
#: The local stand-ins for a partner's endpoints (sinks.py); 2525 is also the port
#: notifications sends email to by default.
DEFAULT_MAIL_SINK_PORT = 2525
DEFAULT_WEBHOOK_RECEIVER_PORT = 8025


def env_port(variable: str, default: int) -> int:
    raw = os.environ.get(variable)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{variable}={raw!r} is not a port number") from None
    if not 0 < value < 65536:
        raise ValueError(f"{variable}={value} is out of range")
    return value


def refuse_moved_port(component: str, running_on: int | None, wanted: int) -> None:
    """A server still running on the port it had before the default or its variable changed."""
    if running_on is not None and running_on != wanted:
        raise InfraError(f"{component}: already running on port {running_on}, not {wanted}; "
                         "`iopctl infra down`, then up again, moves it")


def pg_port() -> int:
    return env_port("IOPNET_PG_PORT", DEFAULT_PG_PORT)


def kafka_port() -> int:
    return env_port("IOPNET_KAFKA_PORT", DEFAULT_KAFKA_PORT)


def kafka_controller_port() -> int:
    return env_port("IOPNET_KAFKA_CONTROLLER_PORT", DEFAULT_KAFKA_CONTROLLER_PORT)


def mail_sink_port() -> int:
    return env_port("IOPNET_MAIL_SINK_PORT", DEFAULT_MAIL_SINK_PORT)


def webhook_receiver_port() -> int:
    return env_port("IOPNET_WEBHOOK_RECEIVER_PORT", DEFAULT_WEBHOOK_RECEIVER_PORT)
