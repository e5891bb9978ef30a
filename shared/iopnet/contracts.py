"""The event contracts integrators build on: AsyncAPI 3.0 and one JSON Schema per event version.

Everything here is derived from the catalog and the Kafka binding, so the
contract cannot drift from what the relays publish: each topic is a channel,
each published event type a message whose payload is its pydantic model's JSON
Schema (serialization mode: what a producer writes and a consumer reads), whose
headers are the CloudEvents binary-mode headers ``kafka_binding.to_record``
writes, and whose Kafka key is the event's subject. Private events never appear.

Pure: ``contract_files`` returns the files' text, ``iopctl contracts generate``
writes them under ``contracts/``, and every API serves its own part
(``asyncapi_document(service)``) at ``GET /asyncapi.json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

from pydantic.json_schema import models_json_schema

from iopnet.catalog import CATALOG, DomainEvent, NetworkEvent
from iopnet.contract_compatibility import VersionedSchema
from iopnet.envelope import ATTRIBUTES, JSON, SPEC_VERSION
from iopnet.kafka_binding import header_name
from iopnet.provenance import producers_of
from iopnet.settings import DEFAULT_KAFKA_PORT
from iopnet.topics import (
    DEFAULT_NAMESPACE,
    NAMESPACE_ENV,
    RETENTION_MS,
    TopicSpec,
    all_topics,
)

Schema = dict[str, Any]

#: The contract's version (``info.version``); ``iopctl contracts release`` keeps a copy
#: under ``contracts/releases/<VERSION>/``. Raise it when the catalog changes.
VERSION = "1.0.0"
ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: What a producer writes (model_dump) is what a consumer reads.
SCHEMA_MODE: Literal["serialization"] = "serialization"
COMPONENT_SCHEMAS = "#/components/schemas/{model}"

#: What each envelope attribute means, as its header describes it.
HEADER_DESCRIPTIONS: dict[str, str] = {
    "id": "The event's id (uuid). Delivery is at least once: deduplicate on it.",
    "source": "The producing service, /iopnet/<service>.",
    "type": "The event type, iopnet.<EventType>.",
    "specversion": "CloudEvents version.",
    "time": "When it happened (RFC 3339).",
    "subject": "Whose event it is: the patient id (the site id on the network topic).",
    "datacontenttype": "The value's media type.",
    "siteid": "The site the event belongs to.",
    "streamid": "The aggregate stream the event was recorded in.",
    "streamversion": "Its position in that stream (1, 2, ...).",
    "correlationid": "Shared by everything one request caused.",
    "causationid": "The id of the request or event that caused this one.",
    "schemaversion": "The version of the value's schema (contracts/schemas/<Type>.v<N>.json).",
}
#: Set only when the producer traced the publication (W3C Trace Context).
TRACE_HEADERS: dict[str, str] = {
    "traceparent": "W3C trace context of the publication, when traced.",
    "tracestate": "W3C trace state, when traced.",
}


def published_events() -> list[type[DomainEvent]]:
    """Every event type that travels on Kafka, by name: the catalog's published ones.

    Only the catalog package's own modules count: a test or a service may register
    private events of its own, which never leave their store.
    """
    return sorted((c for c in CATALOG.values()
                   if c.published and c.__module__.startswith("iopnet.catalog.")),
                  key=lambda c: c.__name__)


def channels_of(event_class: type[DomainEvent]) -> list[str]:
    """The channels (the topics' middle segment) an event type is published on."""
    if issubclass(event_class, NetworkEvent):
        return ["network"]
    return list(producers_of(event_class))


def producer_on(channel: str) -> str:
    """The service that publishes on a channel: intake keeps the network's registry."""
    return "intake" if channel == "network" else channel


def _topics() -> dict[str, TopicSpec]:
    return {spec.name.split(".")[1]: spec for spec in all_topics(DEFAULT_NAMESPACE)}


def schema_file_name(event_class: type[DomainEvent]) -> str:
    return f"{event_class.__name__}.v{event_class.schema_version}.json"


def event_schema(event_class: type[DomainEvent]) -> Schema:
    """The standalone JSON Schema (2020-12) of an event's Kafka record value."""
    schema = event_class.model_json_schema(mode=SCHEMA_MODE)
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        **schema,
        "x-iopnet-type": event_class.event_type,
        "x-iopnet-schemaversion": event_class.schema_version,
        "x-iopnet-topics": [_topics()[c].name for c in channels_of(event_class)],
    }


def asyncapi_document(service: str | None = None) -> Schema:
    """The AsyncAPI 3.0 document: the whole network's events, or those one service publishes."""
    events = [e for e in published_events() if service is None or service in producers_of(e)]
    channels = sorted({c for e in events for c in channels_of(e)
                       if service is None or producer_on(c) == service},
                      key=list(_topics()).index)
    by_channel = {name: [e for e in events if name in channels_of(e)] for name in channels}
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": f"iopnet {service} events" if service else "iopnet events",
            "version": VERSION,
            "description": _INFO_DESCRIPTION,
        },
        "defaultContentType": JSON,
        "servers": {"local": {
            "host": f"127.0.0.1:{DEFAULT_KAFKA_PORT}", "protocol": "kafka",
            "description": "The broker `make up` runs on a developer's machine.",
        }},
        "channels": {name: _channel(name, by_channel[name]) for name in channels},
        "operations": {f"publish-{name}": _operation(name, by_channel[name])
                       for name in channels},
        "components": {
            "messages": {e.__name__: _message(e) for e in events},
            "schemas": _payload_schemas(events),
        },
    }


_INFO_DESCRIPTION = (
    "Events of the iopnet network on Kafka, one topic per producing service. Records"
    " follow the CloudEvents Kafka protocol binding in binary mode: the value is the"
    " event's data as JSON, the attributes are `ce_*` headers, the key is the patient id"
    " (the site id on the network topic), so one patient's events keep their order.\n\n"
    f"Topic names start with a namespace, `{DEFAULT_NAMESPACE}` in production: a"
    f" deployment may set another (`{NAMESPACE_ENV}`, e.g. for a test run sharing a"
    " broker), and then every address reads `<namespace>.<service>.events`.\n\n"
    "Compatibility: within a `ce_schemaversion` schemas change additively only (new"
    " optional fields, new enum values, new event types); ignore what you do not know."
    " A breaking change raises the event's `schemaversion`.")


def _channel(name: str, events: list[type[DomainEvent]]) -> Schema:
    spec = _topics()[name]
    keyed_by = "site" if name == "network" else "patient"
    return {
        "address": spec.name,
        "title": spec.name,
        "description": (f"What {producer_on(name)} publishes, keyed by {keyed_by} id"
                        f" ({spec.partitions} partitions). The address carries the default"
                        f" namespace `{DEFAULT_NAMESPACE}`."),
        "messages": {e.__name__: {"$ref": f"#/components/messages/{e.__name__}"}
                     for e in events},
        "bindings": {"kafka": {
            "topic": spec.name,
            "partitions": spec.partitions,
            "topicConfiguration": {"cleanup.policy": [spec.config["cleanup.policy"]],
                                   "retention.ms": RETENTION_MS},
            "bindingVersion": KAFKA_BINDING_VERSION,
        }},
    }


def _operation(name: str, events: list[type[DomainEvent]]) -> Schema:
    return {
        "action": "send",
        "channel": {"$ref": f"#/channels/{name}"},
        "summary": f"{producer_on(name)} publishes these events (its outbox relay).",
        "messages": [{"$ref": f"#/channels/{name}/messages/{e.__name__}"} for e in events],
    }


def _message(event_class: type[DomainEvent]) -> Schema:
    name = event_class.__name__
    return {
        "name": name,
        "title": name,
        "summary": _summary(event_class),
        "contentType": JSON,
        "headers": record_headers_schema(event_class),
        "payload": {"$ref": COMPONENT_SCHEMAS.format(model=name)},
        "correlationId": {"location": "$message.header#/ce_correlationid",
                          "description": "Shared by everything one request caused."},
        "bindings": {"kafka": {"key": record_key_schema(event_class),
                               "bindingVersion": KAFKA_BINDING_VERSION}},
        "x-iopnet-schemaversion": event_class.schema_version,
    }


def _summary(event_class: type[DomainEvent]) -> str:
    own = event_class.__dict__.get("__doc__")
    return (own.strip().splitlines()[0] if own
            else f"{event_class.__name__}, published by {_producers(event_class)}.")


def _producers(event_class: type[DomainEvent]) -> str:
    return " and ".join(producers_of(event_class))


def record_key_schema(event_class: type[DomainEvent]) -> Schema:
    whose = "site" if issubclass(event_class, NetworkEvent) else "patient"
    return {"type": "string", "description": f"The {whose} id (the event's subject), UTF-8:"
                                             f" one {whose}'s events share a partition."}


def record_headers_schema(event_class: type[DomainEvent]) -> Schema:
    """The Kafka headers of one event type's records; every value is a UTF-8 string."""
    fixed = {"type": event_class.event_type, "specversion": SPEC_VERSION,
             "datacontenttype": JSON, "schemaversion": str(event_class.schema_version)}
    sources = [f"/iopnet/{producer}" for producer in producers_of(event_class)]
    formats = {"time": {"format": "date-time"}, "id": {"format": "uuid"},
               "streamversion": {"pattern": "^[1-9][0-9]*$"}}
    properties: Schema = {}
    for attribute in ATTRIBUTES:
        header: Schema = {"type": "string", "description": HEADER_DESCRIPTIONS[attribute],
                          **formats.get(attribute, {})}
        if attribute in fixed:
            header["const"] = fixed[attribute]
        elif attribute == "source":  # each producer on its own topic (provenance.py)
            header |= {"const": sources[0]} if len(sources) == 1 else {"enum": sources}
        properties[header_name(attribute)] = header
    for name, description in TRACE_HEADERS.items():
        properties[name] = {"type": "string", "description": description}
    return {"type": "object", "properties": properties,
            "required": [header_name(a) for a in ATTRIBUTES]}


def _payload_schemas(events: Iterable[type[DomainEvent]]) -> dict[str, Schema]:
    """The events' payload schemas and the parts they share, refs pointing into components."""
    _, top = models_json_schema([(e, SCHEMA_MODE) for e in events],
                                ref_template=COMPONENT_SCHEMAS)
    definitions: dict[str, Schema] = top.get("$defs", {})
    return dict(sorted(definitions.items()))


def contract_files() -> dict[str, str]:
    """Every generated file under ``contracts/`` (releases aside), by relative path."""
    files = {"asyncapi.json": _json_text(asyncapi_document())}
    for event_class in published_events():
        files[f"schemas/{schema_file_name(event_class)}"] = _json_text(event_schema(event_class))
    return files


def _json_text(document: Schema) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def current_schemas() -> dict[str, VersionedSchema]:
    """Each published event type's schema and version now, for the compatibility check."""
    return {e.event_type: VersionedSchema(e.schema_version, event_schema(e))
            for e in published_events()}


def versioned_schema(schema: Schema) -> tuple[str, VersionedSchema]:
    """An event schema file's event type and version (as ``event_schema`` wrote them)."""
    return schema["x-iopnet-type"], VersionedSchema(schema["x-iopnet-schemaversion"], schema)
