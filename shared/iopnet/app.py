"""The app factory: one FastAPI app per service, alike in everything but routes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from iopnet.auth.audit import install_audit, trail_of
from iopnet.auth.guard import document_security
from iopnet.contracts import asyncapi_document
from iopnet.db import create_pool
from iopnet.eventstore import EventStore
from iopnet.fhir import install_fhir_errors
from iopnet.metrics import REQUEST_SECONDS, LagProbe, read_database_gauges
from iopnet.observer import Exchange, ResponseObserver
from iopnet.problems import PROBLEM_RESPONSES, install_problem_handlers
from iopnet.service import ServiceSpec
from iopnet.settings import ServiceSettings
from iopnet.telemetry import instrument_libraries


def create_app(spec: ServiceSpec, settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or spec.settings()
    instrument_libraries()

    projection = spec.consumer_projection()
    lag = LagProbe(settings.kafka_bootstrap, settings.consumer_group,
                   projection.topics if projection else [], settings.kafka_client_options())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A request sets its role and site with set_config(..., true): transaction-local.
        app.state.pool = await create_pool(settings.database_url, max_size=settings.db_pool_size,
                                           session_state=False)
        app.state.lag = lag
        try:
            yield
        finally:
            await lag.close()
            await trail_of(app).close()
            await app.state.pool.close()

    app = FastAPI(
        title=f"iopnet {spec.name}", description=spec.description, version="1.0.0",
        lifespan=lifespan, responses=PROBLEM_RESPONSES,
    )
    app.state.settings = settings
    app.state.events = EventStore.of(spec.name)
    install_problem_handlers(app)
    install_fhir_errors(app)
    install_audit(app)
    document_security(app)
    install_request_telemetry(app)
    app.add_api_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    app.add_api_route("/readyz", readyz, methods=["GET"], include_in_schema=False)
    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    app.add_api_route("/asyncapi.json", event_contract(spec.name), methods=["GET"],
                      include_in_schema=False)
    for router in spec.routers:
        app.include_router(router)
    return app


async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def event_contract(service: str) -> Callable[[], Awaitable[JSONResponse]]:
    """``GET /asyncapi.json``: the events this service publishes, as AsyncAPI 3.0.

    Open like ``/openapi.json``: a contract (the same as ``contracts/`` in the
    repository), no data. The ingress publishes it only when its paths list it.
    """
    document = asyncapi_document(service)

    async def asyncapi() -> JSONResponse:
        return JSONResponse(document)

    return asyncapi


async def readyz(request: Request) -> JSONResponse:
    """Ready when this service can reach its database: all a request needs.

    Not the broker: writes go to the outbox, which exists to absorb a broker
    outage, and tying readiness to one broker took every replica out of service
    during that broker's maintenance. A broker outage shows as outbox age and
    consumer lag, which the chart's alert rules watch.
    """
    checks = {"database": await _database_answers(request.app.state.pool)}
    ready = all(checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    """Prometheus exposition; figures kept in Postgres and Kafka are read now."""
    with contextlib.suppress(OSError, TimeoutError, asyncpg.PostgresError):
        async with asyncio.timeout(2):
            await read_database_gauges(request.app.state.pool)
    with contextlib.suppress(Exception):  # the broker may be down: lag is then unknown
        async with asyncio.timeout(3):
            await request.app.state.lag.read()
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def install_request_telemetry(app: FastAPI) -> None:
    """A latency observation per request, by route template.

    FastAPI itself opens the request's server span (continuing the caller's
    W3C trace context, with the HTTP semantic conventions) whenever a tracer
    provider is configured: no instrumentation package is needed for it.
    """

    async def observe(exchange: Exchange) -> None:
        if exchange.route not in UNOBSERVED_ROUTES:
            REQUEST_SECONDS.labels(exchange.method, exchange.route, str(exchange.status)
                                   ).observe(exchange.seconds)

    app.add_middleware(ResponseObserver, observe=observe)


UNOBSERVED_ROUTES = frozenset({"/metrics", "/healthz", "/readyz"})


async def _database_answers(pool: asyncpg.Pool) -> bool:
    try:
        async with asyncio.timeout(2):
            return bool(await pool.fetchval("SELECT true"))
    except (OSError, TimeoutError, asyncpg.PostgresError):
        return False
