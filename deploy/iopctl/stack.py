"""The five services as local processes: an API and a worker (relay + consumer) each.

``make up`` and the end-to-end tests start the system the same way, through
this module, so what the tests exercise is what a developer runs.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from iopctl.kafka_principals import service_env
from iopctl.paths import REPO_ROOT, logs_dir
from iopctl.pgsql import ServiceDsns
from iopctl.progress import say
from iopnet.service import ServiceSpec
from iopnet.topics import SERVICES

DEFAULT_PORTS: Mapping[str, int] = {
    "intake": 8001, "plans": 8002, "sessions": 8003, "family": 8004, "notifications": 8005,
}
ROLES = ("api", "worker")


def migrations_of(service: str) -> Path:
    return REPO_ROOT / "services" / service / "migrations"


def spec_of(service: str) -> ServiceSpec:
    spec: ServiceSpec = importlib.import_module(f"services.{service}.service").SPEC
    return spec


@dataclass
class Stack:
    """Starts, watches and stops the services' processes."""

    #: The services' login per service (restricted roles, owner of nothing).
    database_url: Mapping[str, str]
    kafka_bootstrap: str
    operator_key: str
    ports: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    consumer_group_suffix: str = ""
    #: More environment for every service (SMTP server, delivery timings, ...).
    extra_env: Mapping[str, str] = field(default_factory=dict)
    log_dir: Path = field(default_factory=logs_dir)
    #: The schema owner's DSN per service, for migrations; none: ``database_url``.
    migration_url: Mapping[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    async def migrate(self) -> None:
        await asyncio.gather(*(spec_of(s).migrate(self.migration_url.get(s, self.database_url[s]))
                               for s in SERVICES))

    @classmethod
    def restricted(cls, databases: Mapping[str, ServiceDsns], **options: Any) -> Stack:
        """The services on their login, migrations as the schema's owner."""
        return cls(database_url={s: d.runtime for s, d in databases.items()},
                   migration_url={s: d.owner for s, d in databases.items()}, **options)

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for service in SERVICES:
            for role in ROLES:
                self.processes[f"{service}-{role}"] = self._spawn(service, role)

    def pause(self, service: str, role: str, grace: float = 30.0) -> int:
        """Stop one process with SIGTERM, as a rolling restart does; its exit code. One
        still running after ``grace`` is killed, as an orchestrator would, and the timeout
        raised: out of ``processes``, it would otherwise outlive the stack."""
        process = self.processes.pop(f"{service}-{role}")
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise

    def resume(self, service: str, role: str) -> None:
        self.processes[f"{service}-{role}"] = self._spawn(service, role)

    def environment(self, service: str) -> dict[str, str]:
        """What a process of ``service`` gets on top of this process's environment."""
        return {
            "IOPNET_DATABASE_URL": self.database_url[service],
            "IOPNET_MIGRATION_DATABASE_URL": self.migration_url.get(
                service, self.database_url[service]),
            "IOPNET_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "IOPNET_HTTP_PORT": str(self.ports[service]),
            "IOPNET_CONSUMER_GROUP": service + self.consumer_group_suffix,
            "IOPNET_OPERATOR_KEY": self.operator_key,
            # Local receivers (the demo's, the tests') listen on loopback; never in production.
            "IOPNET_WEBHOOK_ALLOW_INTERNAL_ADDRESSES": "true",
            **self.extra_env,
            # Its own Kafka principal on a local broker with ACLs; whatever the shell says.
            **service_env(self.kafka_bootstrap, service),
        }

    def _spawn(self, service: str, role: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, **self.environment(service)}
        log = (self.log_dir / f"{service}-{role}.log").open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", f"services.{service}", role],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    async def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            for service in SERVICES:
                while not await _ready(client, self.url(service) + "/readyz"):
                    self._check_alive()
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{service} not ready after {timeout:.0f}s; see "
                                           f"{self.log_dir}/{service}-api.log")
                    await asyncio.sleep(0.2)

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see "
                                   f"{self.log_dir}/{name}.log")

    def stop(self, grace: float = 15.0) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for name, process in self.processes.items():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say("stack", f"{name} did not stop in {grace:.0f}s; killing it")
                process.kill()
                process.wait()
        self.processes.clear()


async def _ready(client: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False
