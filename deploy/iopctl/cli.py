"""``iopctl`` command line. Each command group adds itself via ``register(subparsers)``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence

from iopctl import (
    contracts,
    dead_letters,
    events,
    infra,
    k8s,
    network,
    projections,
    sent,
    system,
    topics,
)
from iopctl.actions import add_group
from iopctl.errors import InfraError

Handler = Callable[[argparse.Namespace], int]
Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _infra_up(_: argparse.Namespace) -> int:
    asyncio.run(infra.up())
    return 0


def _infra_down(_: argparse.Namespace) -> int:
    asyncio.run(infra.down())
    return 0


def _infra_status(_: argparse.Namespace) -> int:
    statuses = asyncio.run(infra.status())
    for status in statuses:
        print(status.line())
    return 0 if all(s.healthy for s in statuses) else 3


def register_infra(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_group(subparsers, "infra", "local Postgres + Kafka (no Docker)", (
        ("up", _infra_up, "start (install/resolve/init on first run), create DBs and topics"),
        ("down", _infra_down, "stop both servers (state is kept in .iopnet/)"),
        ("status", _infra_status, "show state; exit 0 only when both are healthy"),
    ))


#: Command groups; other modules append their ``register`` function here.
REGISTRARS: list[Registrar] = [
    register_infra, system.register, topics.register, network.register, events.register,
    k8s.register, contracts.register, sent.register, dead_letters.register,
    projections.register,
]


def build_parser(registrars: Sequence[Registrar] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iopctl", description="iopnet developer tooling")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for registrar in registrars if registrars is not None else REGISTRARS:
        registrar(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except InfraError as exc:
        print(f"iopctl: error: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
