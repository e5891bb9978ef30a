"""Structured logs and traces.

Logs: one JSON object a line, with the current trace and span ids, never
patient-identifying data (messages name events, streams and counts; free
text and identities are never logged).

Traces: OpenTelemetry, configured only by the standard ``OTEL_*`` variables
(an OTLP endpoint turns it on). Without them the API's no-op tracer is used
and costs next to nothing. A request, the event store append, the relay's
publish, the Kafka hop (W3C ``traceparent`` header) and the consumer's
projection form one trace across services.

The standard spans come from where integrators' backends expect them, with the
OpenTelemetry semantic conventions: HTTP server spans from FastAPI's own
telemetry (it opens one per request, named by route, whenever a provider is
set), database spans from ``opentelemetry-instrumentation-asyncpg`` and the
Kafka send/receive spans, with the ``traceparent`` header, from
``opentelemetry-instrumentation-aiokafka``. Written here by hand are only the
spans those libraries cannot know: appending to the event store, projecting an
event, delivering a message.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context

tracer = trace.get_tracer("iopnet")

_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def configure_tracing(service: str) -> bool:
    """Export spans over OTLP when the environment asks for it; True if it does."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if not any(os.environ.get(name) for name in _ENDPOINT_VARIABLES):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME", f"iopnet-{service}")
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


def instrument_libraries() -> None:
    """Trace asyncpg and aiokafka (idempotent; before any connection or client is made).

    Statements are recorded without their parameters, which may carry personal data.
    The aiokafka instrumentation is also what writes the ``traceparent`` header on each
    published record, so the relay and the consumers call this themselves.

    asyncpg is instrumented only once spans are exported (a tracer provider is set, as
    ``configure_tracing`` does): its spans propagate nothing, and without a provider
    they were a no-op costing about 6% of an API's CPU, a span for every statement.
    """
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    instrumentors: list[Any] = [AIOKafkaInstrumentor()]
    if tracing():
        instrumentors.append(AsyncPGInstrumentor(capture_parameters=False))  # type: ignore[no-untyped-call]
    for instrumentor in instrumentors:
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()


def tracing() -> bool:
    """Whether spans go anywhere: a tracer provider of the SDK's (or another) is set."""
    return not isinstance(trace.get_tracer_provider(),
                          trace.ProxyTracerProvider | trace.NoOpTracerProvider)


def current_trace_context() -> dict[str, str]:
    """The active trace as W3C headers (empty when nothing is traced)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from(carrier: Mapping[str, str] | None) -> Context:
    return propagate.extract(dict(carrier or {}))


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
