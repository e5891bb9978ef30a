"""``iopctl up`` / ``iopctl down``: the whole system on this machine, no Docker.

``up`` starts Postgres and Kafka, applies every service's migrations,
starts a local mail sink and webhook receiver (sinks.py) and the five services
(API and worker each; notifications sends email to the sink), prints ``ready`` with the
URLs, and keeps running until Ctrl-C or SIGTERM, then stops everything.
``down``, from another terminal, sends that SIGTERM and stops the servers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

from iopctl import infra, paths, pgsql
from iopctl.ports import HOST
from iopctl.proc import pid_alive, read_pid
from iopctl.progress import say
from iopctl.sinks import LocalSinks, webhook_secret_file
from iopctl.stack import Stack
from iopnet.auth.guard import OPERATOR_KEY_ENV
from iopnet.auth.keys import new_key
from iopnet.topics import SERVICES


def pid_file() -> Path:
    return paths.state_dir() / "system.pid"


def operator_key_file() -> Path:
    return paths.state_dir() / "operator.key"


def operator_key() -> str:
    """The network operator's bootstrap key: from the environment, else made once and kept."""
    if from_env := os.environ.get(OPERATOR_KEY_ENV):
        return from_env
    keyfile = operator_key_file()
    if not keyfile.exists():
        keyfile.parent.mkdir(parents=True, exist_ok=True)
        keyfile.touch(mode=0o600)
        keyfile.write_text(new_key().plaintext)
        say("system", f"made the operator key, kept in {keyfile}")
    return keyfile.read_text().strip()


async def up() -> None:
    endpoints = await infra.up()
    sinks = LocalSinks.on_default_ports()
    databases = {s: await pgsql.hand_to_owner(endpoints.pg_admin_dsn, s) for s in SERVICES}
    stack = Stack.restricted(databases, kafka_bootstrap=endpoints.kafka_bootstrap,
                             operator_key=operator_key(), extra_env=sinks.smtp_env())
    await stack.migrate()
    say("system", "migrations applied; starting the services")
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    pid_file().write_text(str(os.getpid()))
    try:
        sinks.start()
        stack.start()
        await stack.wait_ready()
        print("ready", flush=True)
        for service in SERVICES:
            print(f"  {service:<14} {stack.url(service)}  (docs: {stack.url(service)}/docs)",
                  flush=True)
        print(f"  logs           {paths.logs_dir()}", flush=True)
        print(f"  operator key   in {operator_key_file()} (export IOPNET_OPERATOR_KEY=...)",
              flush=True)
        print(f"  mail sink      smtp://{HOST}:{sinks.mail.port}; webhook receiver"
              f" {sinks.webhooks.url} (secret in {webhook_secret_file()});"
              " `iopctl sent` lists what they received", flush=True)
        print("Ctrl-C (or `make down`) stops it.", flush=True)
        await stopping.wait()
    finally:
        say("system", "stopping the services")
        stack.stop()
        sinks.stop()
        await infra.down()
        pid_file().unlink(missing_ok=True)


async def down() -> None:
    pid = read_pid(pid_file())
    if pid is not None and pid_alive(pid):
        say("system", f"asking `iopctl up` (pid {pid}) to stop")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while pid_alive(pid) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    pid_file().unlink(missing_ok=True)
    await infra.down()


def _up(_: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(up())
    return 0


def _down(_: argparse.Namespace) -> int:
    asyncio.run(down())
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    subparsers.add_parser("up", help="run the whole system until Ctrl-C").set_defaults(
        handler=_up)
    subparsers.add_parser("down", help="stop what `iopctl up` started").set_defaults(
        handler=_down)
