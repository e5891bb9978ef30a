"""Process entry points: every service runs as ``python -m services.<name> <role>``.

Roles: ``api`` (HTTP), ``relay`` (outbox → Kafka), ``consumer`` (Kafka →
projections), ``worker`` (relay and consumer in one process), ``migrate``.
SIGTERM and SIGINT stop a role cleanly: the relay finishes its batch, the
consumer commits what it applied; a worker's loops still busy after
``IOPNET_WORKER_STOP_GRACE_SECONDS`` are cancelled (``iopnet.supervision``), so
the process exits within that, well inside an orchestrator's kill timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Awaitable, Iterator

import uvicorn
import uvloop
from prometheus_client import start_http_server

from iopnet import heap
from iopnet.app import create_app
from iopnet.consumer import ConsumerRunner
from iopnet.db import create_pool
from iopnet.eventstore import EventStore
from iopnet.provenance import check_provenance
from iopnet.relay import OutboxRelay
from iopnet.retention import purge_bookkeeping
from iopnet.service import ServiceSpec
from iopnet.settings import ServiceSettings
from iopnet.supervision import keep_running, run_until_stopped
from iopnet.telemetry import configure_logging, configure_tracing

ROLES = ("api", "relay", "consumer", "worker", "migrate")
log = logging.getLogger(__name__)


def main(spec: ServiceSpec, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m services.{spec.name}")
    parser.add_argument("role", choices=ROLES)
    role = parser.parse_args(argv).role
    settings = spec.settings()
    configure_logging(spec.name, settings.log_level)
    configure_tracing(spec.name)
    uvloop.run(run_role(spec, settings, role))
    return 0


async def run_role(spec: ServiceSpec, settings: ServiceSettings, role: str) -> None:
    if role == "migrate":
        applied = await spec.migrate(settings.migration_database_url)
        log.info("migrations applied: %s", ", ".join(applied) or "none pending")
    elif role == "api":
        await serve_api(spec, settings)
    else:
        await run_workers(spec, settings, relay=role in ("relay", "worker"),
                          consumer=role in ("consumer", "worker"))


async def serve_api(spec: ServiceSpec, settings: ServiceSettings) -> None:
    app = create_app(spec, settings)
    heap.freeze_what_lives_now()
    config = uvicorn.Config(
        app, host=settings.http_host, port=settings.http_port,
        log_config=None, access_log=False, timeout_graceful_shutdown=10, http="httptools",
        # Longer than a client's or proxy's idle expiry (httpx's and uvicorn's default
        # are both 5 s): a client reusing a connection as the server closes it gets a
        # reset on a POST, which it cannot retry safely.
        timeout_keep_alive=75,
    )
    await GracefulServer(config).serve()


class GracefulServer(uvicorn.Server):
    """On SIGTERM: stop accepting, finish the requests in flight, then exit 0.

    uvicorn would re-raise the signal after its graceful shutdown, which makes
    a clean stop look like a crash to supervisors.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.handle_exit, signum, None)
        yield


async def run_workers(
    spec: ServiceSpec, settings: ServiceSettings, *, relay: bool, consumer: bool
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    tasks: list[Awaitable[None]] = []
    if settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port, addr=settings.http_host)
    pool = await create_pool(settings.database_url, max_size=settings.db_pool_size)
    if relay:
        outbox_relay = OutboxRelay(
            dsn=settings.database_url, bootstrap_servers=settings.kafka_bootstrap,
            channel=EventStore.of(spec.name).channel, client_id=f"{spec.name}-relay",
            client_options=settings.kafka_client_options(), topics=spec.publishes_to(),
        )
        tasks.append(keep_running("relay", lambda: outbox_relay.run(stop), stop))
    projection = spec.consumer_projection()
    if consumer and projection is not None:
        runner = ConsumerRunner(
            group_id=settings.consumer_group, projection=projection, pool=pool,
            bootstrap_servers=settings.kafka_bootstrap,
            client_options=settings.kafka_client_options(), provenance=check_provenance,
        )
        tasks.append(keep_running("consumer", lambda: runner.run(stop), stop))
    if consumer:
        tasks += [keep_running(getattr(job, "__name__", "job"),
                               functools.partial(job, pool, settings, stop), stop)
                  for job in [*spec.background, purge_bookkeeping]]
    log.info("%s worker started (relay=%s, consumer=%s)", spec.name, relay, consumer)
    try:
        await run_until_stopped(tasks, stop, settings.worker_stop_grace_seconds)
    finally:
        try:
            await asyncio.wait_for(pool.close(), settings.worker_stop_grace_seconds)
        except Exception:  # a connection still held: closed without waiting for it
            pool.terminate()
