"""Loopback host and ports, overridable by environment variables.

Defaults stay clear of a system Postgres (5432) and a system Kafka (9092/9093).
"""

from __future__ import annotations

import os

HOST = "127.0.0.1"


def _port(variable: str, default: int) -> int:
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


def pg_port() -> int:
    return _port("IOPNET_PG_PORT", 55432)


def kafka_port() -> int:
    return _port("IOPNET_KAFKA_PORT", 59092)


def kafka_controller_port() -> int:
    return _port("IOPNET_KAFKA_CONTROLLER_PORT", 59093)
