"""One admission, one trace: intake's request, append and publish, sessions' projection,
and notifications' delivery of the welcome, with the standard HTTP, database and Kafka
spans of FastAPI and the OpenTelemetry instrumentation packages."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from iopctl.kafka_principals import admin_options
from iopctl.stack import migrations_of
from iopnet.app import create_app
from iopnet.auth.guard import OPERATOR_KEY_ENV
from iopnet.auth.keys import new_key
from iopnet.consumer import ConsumerRunner
from iopnet.db import create_pool
from iopnet.eventstore import EventStore
from iopnet.migrate import apply_migrations
from iopnet.relay import OutboxRelay
from iopnet.topics import topic_of
from services.intake.service import SPEC as INTAKE
from services.intake.settings import IntakeSettings
from services.notifications.delivery import deliver_due_messages
from services.notifications.service import SPEC as NOTIFICATIONS
from services.notifications.settings import NotificationsSettings
from services.sessions.service import SPEC as SESSIONS
from tests.conftest import FreshDatabase, eventually
from tests.e2e.journeys import NO_RISK
from tests.fixtures.dates import program_start
from tests.fixtures.infra import Endpoints

pytestmark = pytest.mark.integration

EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def tracing() -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    trace.set_tracer_provider(provider)


@pytest.fixture
async def operator_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = new_key().plaintext
    monkeypatch.setenv(OPERATOR_KEY_ENV, key)
    return key


async def migrated(fresh_database: FreshDatabase, service: str) -> str:
    dsn = await fresh_database(service)
    await apply_migrations(dsn, [migrations_of(service)])
    return dsn


@pytest.fixture
async def intake_api(fresh_database: FreshDatabase, infra: Endpoints, operator_key: str,
                     own_topics: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    dsn = await migrated(fresh_database, "intake")
    app = create_app(INTAKE, IntakeSettings(database_url=dsn,
                                            kafka_bootstrap=infra.kafka_bootstrap))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://intake",
        headers={"Authorization": f"Bearer {operator_key}"},
    ) as client:
        yield client, dsn


async def admit_through_the_api(client: httpx.AsyncClient) -> str:
    await client.post("/v1/network/sites", json={
        "site_id": "site-t", "name": "T", "time_zone": "UTC",
        "policies": {"quiet_hours_start": "00:00:00", "quiet_hours_end": "00:00:00"}})
    referred = await client.post("/v1/referrals", json={
        "site_id": "site-t", "source": "provider",
        "patient": {"given_name": "A", "family_name": "B", "birth_date": "1990-01-01"}})
    patient_id: str = referred.json()["patient_id"]
    for body in ({"instrument": "phq9", "items": [2] * 8 + [0]},
                 {"instrument": "cssrs", "answers": NO_RISK}):
        assert (await client.post(f"/v1/patients/{patient_id}/assessments",
                                  json=body)).status_code == 201
    admitted = await client.post(f"/v1/patients/{patient_id}/admission", json={
        "program_id": "p", "start_date": program_start().isoformat(), "days_per_week": 3,
        "planned_weeks": 8, "clinician_id": "c"})
    assert admitted.status_code == 201, admitted.text
    return patient_id


async def test_one_admission_is_one_trace_across_services(
    intake_api: tuple[httpx.AsyncClient, str], fresh_database: FreshDatabase,
    infra: Endpoints,
) -> None:
    client, intake_dsn = intake_api
    sessions_pool = await create_pool(await migrated(fresh_database, "sessions"))
    notifications_dsn = await migrated(fresh_database, "notifications")
    notifications_pool = await create_pool(notifications_dsn)
    projection = SESSIONS.consumer_projection()
    notified = NOTIFICATIONS.consumer_projection()
    assert projection is not None and notified is not None
    group = f"sessions-trace-{uuid.uuid4().hex[:6]}"
    stop = asyncio.Event()
    workers = [
        asyncio.create_task(OutboxRelay(
            dsn=intake_dsn, bootstrap_servers=infra.kafka_bootstrap,
            client_options=admin_options(infra.kafka_bootstrap),
            channel=EventStore.of("intake").channel).run(stop)),
        asyncio.create_task(ConsumerRunner(
            group_id=group, projection=projection,
            pool=sessions_pool, bootstrap_servers=infra.kafka_bootstrap,
            client_options=admin_options(infra.kafka_bootstrap)).run(stop)),
        asyncio.create_task(ConsumerRunner(
            group_id=group + "-notifications", projection=notified,
            pool=notifications_pool, bootstrap_servers=infra.kafka_bootstrap,
            client_options=admin_options(infra.kafka_bootstrap)).run(stop)),
        asyncio.create_task(deliver_due_messages(notifications_pool, NotificationsSettings(
            database_url=notifications_dsn, delivery_poll_seconds=0.2), stop)),
    ]
    try:
        EXPORTER.clear()
        await admit_through_the_api(client)
        request, = [s for s in EXPORTER.get_finished_spans()
                    if s.name == "POST /v1/patients/{patient_id}/admission"]

        def in_trace() -> list[str]:
            return [s.name for s in EXPORTER.get_finished_spans()
                    if s.context.trace_id == request.context.trace_id]

        async def projected() -> bool:
            return {"project iopnet.PatientAdmitted", "deliver welcome"} <= set(in_trace())

        await eventually(projected, timeout=30)
    finally:
        stop.set()
        await asyncio.gather(*workers)
        await sessions_pool.close()
        await notifications_pool.close()

    assert_the_span_tree(EXPORTER.get_finished_spans(), request)


def assert_the_span_tree(spans: Sequence[ReadableSpan], request: ReadableSpan) -> None:
    """Request -> append (its SQL) -> Kafka send -> receive and projection (its SQL)
    -> delivery: the libraries' standard spans and iopnet's own, one tree."""
    trace_spans = [s for s in spans if s.context.trace_id == request.context.trace_id]
    by_id = {s.context.span_id: s for s in trace_spans}

    def parent(span: ReadableSpan) -> ReadableSpan | None:
        return by_id.get(span.parent.span_id) if span.parent else None

    def descends(span: ReadableSpan, ancestor: ReadableSpan) -> bool:
        above = parent(span)
        while above is not None and above is not ancestor:
            above = parent(above)
        return above is ancestor

    def one(name: str, kind: SpanKind) -> ReadableSpan:
        found = [s for s in trace_spans if s.name == name and s.kind is kind]
        assert found, f"no {kind.name} span {name!r} in {sorted(s.name for s in trace_spans)}"
        return found[0]

    def runs_sql(span: ReadableSpan) -> bool:
        return any(s.kind is SpanKind.CLIENT and (s.attributes or {}).get("db.system")
                   == "postgresql" and descends(s, span) for s in trace_spans)

    intake_topic = topic_of("intake")
    assert request.kind is SpanKind.SERVER
    assert (request.attributes or {}).get("http.route") == "/v1/patients/{patient_id}/admission"
    send = one(f"{intake_topic} send", SpanKind.PRODUCER)
    append = parent(send)
    assert append is not None and append.name == "eventstore.append"
    assert descends(append, request) and runs_sql(append)
    assert (send.attributes or {}).get("messaging.system") == "kafka"
    received = [s for s in trace_spans if s.name == f"{intake_topic} receive"
                and s.kind is SpanKind.CONSUMER and parent(s) is send]
    assert received, "the consumers' receive spans continue the producer's trace"
    projections = [s for s in trace_spans if s.name == "project iopnet.PatientAdmitted"]
    assert len(projections) == 2  # sessions and notifications
    assert all(parent(p) is send and runs_sql(p) for p in projections)
    delivery = one("deliver welcome", SpanKind.INTERNAL)
    assert any(descends(delivery, p) for p in projections)
