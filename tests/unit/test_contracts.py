"""The committed event contracts are current, well formed, and compatible with the newest release.

Also: what they say about a record (headers, key, value) is what the Kafka
binding writes, each service serves its own part, and private events never
appear.
"""

from __future__ import annotations

import importlib
from datetime import date
from typing import Any, ClassVar

import jsonschema
import pytest
from asyncapi3 import AsyncAPI3
from fastapi.testclient import TestClient

from iopctl.contracts import (
    breaking_changes_since_newest_release,
    release_versions,
    stale_files,
)
from iopnet.app import create_app
from iopnet.catalog import (
    CATALOG,
    DomainEvent,
    NetworkEvent,
    PatientAdmitted,
    PrivatePatientEvent,
    SitePoliciesChanged,
)
from iopnet.contracts import (
    asyncapi_document,
    contract_files,
    event_schema,
    published_events,
    record_headers_schema,
    record_key_schema,
)
from iopnet.envelope import EventEnvelope
from iopnet.kafka_binding import to_record
from iopnet.provenance import producers_of, topic_for
from iopnet.topics import SERVICES
from tests.unit.test_event_contracts import example_of

pytestmark = pytest.mark.unit


def test_the_committed_contracts_are_the_generated_ones() -> None:
    stale = stale_files()
    assert not stale, f"contracts/ is stale ({', '.join(stale)}): run `iopctl contracts generate`"


def test_the_catalog_breaks_no_consumer_of_the_newest_release() -> None:
    assert "1.0.0" in release_versions()
    breaking = breaking_changes_since_newest_release()
    assert not breaking, (
        "breaking changes against the newest release in contracts/releases/ (raise the"
        " event's schema_version and add an upcaster, see docs/integration.md):\n"
        + "\n".join(breaking))


def refs_in(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if "$ref" in node else [r for v in node.values() for r in refs_in(v)]
    if isinstance(node, list):
        return [r for item in node for r in refs_in(item)]
    return []


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    target: Any = document
    for part in ref[2:].split("/"):
        assert part in target, f"{ref} does not resolve"
        target = target[part]
    return target


def test_the_asyncapi_document_is_well_formed() -> None:
    document = asyncapi_document()
    AsyncAPI3.model_validate(document)  # asyncapi3: the 3.0 specification as strict models
    assert document["asyncapi"] == "3.0.0"
    for ref in refs_in(document):
        resolve(document, ref)
    for name, channel in document["channels"].items():
        assert channel["address"] == f"iopnet.{name}.events"
        assert channel["bindings"]["kafka"]["topic"] == channel["address"]
        assert channel["messages"], name
    for operation in document["operations"].values():
        channel = resolve(document, operation["channel"]["$ref"])
        for message in operation["messages"]:
            assert message["$ref"].startswith(operation["channel"]["$ref"] + "/messages/")
            assert resolve(document, message["$ref"]) in channel["messages"].values()
    for name, message in document["components"]["messages"].items():
        assert {"payload", "headers", "bindings"} <= message.keys(), name
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
        jsonschema.Draft202012Validator.check_schema(message["headers"])


def test_every_published_event_is_a_message_on_the_topics_consumers_accept_it_from() -> None:
    document = asyncapi_document()
    addresses: dict[str, set[str]] = {}
    for channel in document["channels"].values():
        for ref in channel["messages"].values():
            addresses.setdefault(ref["$ref"].rsplit("/", 1)[1], set()).add(channel["address"])
    published = {e.event_type for e in published_events()}
    assert published == {t for t, e in CATALOG.items()
                         if e.published and e.__module__.startswith("iopnet.catalog.")}
    for event_class in published_events():  # provenance.py refuses it from anywhere else
        accepted = {topic_for(event_class, producer).split(".", 1)[1]
                    for producer in producers_of(event_class)}
        assert addresses[event_class.__name__] == {f"iopnet.{t}" for t in accepted}
    assert addresses["PatientTransferred"] == {"iopnet.intake.events"}
    assert addresses["ApiKeyIssued"] == {"iopnet.network.events"}
    assert addresses["RiskSignalRaised"] == {"iopnet.intake.events", "iopnet.sessions.events"}


def test_the_services_private_events_never_appear() -> None:
    private = [c for c in CATALOG.values() if not c.published]
    assert private  # the services' own (imported above, through test_event_contracts)
    messages = set(asyncapi_document()["components"]["messages"])
    assert not messages & {c.__name__ for c in private}
    assert not any(c.event_type in str(contract_files()) for c in private)


def test_private_events_never_appear() -> None:
    class NameNoted(PrivatePatientEvent):
        sealed_fields: ClassVar[tuple[str, ...]] = ("name",)
        name: str | None = None

    NameNoted.__module__ = "iopnet.catalog.intake"  # as if the catalog itself defined it
    try:
        assert NameNoted not in published_events()
        assert "NameNoted" not in str(asyncapi_document())
        assert not any("NameNoted" in path for path in contract_files())
    finally:
        del CATALOG[NameNoted.event_type]


def envelope_of(event: DomainEvent, producer: str) -> EventEnvelope:
    return EventEnvelope(
        source=f"/iopnet/{producer}", type=event.event_type,
        subject=event.subject, siteid=event.site_id, streamid="stream-1", streamversion=3,
        correlationid="corr-1", causationid="cause-1", schemaversion=event.schema_version,
        data=event.model_dump(mode="json"))


@pytest.mark.parametrize("event_class", published_events(), ids=lambda e: e.__name__)
def test_a_record_as_the_relay_writes_it_matches_the_contract(
        event_class: type[DomainEvent]) -> None:
    event = event_class.model_validate(example_of(event_class))
    schema = event_schema(event_class)
    jsonschema.Draft202012Validator.check_schema(schema)
    checker = jsonschema.FormatChecker()
    jsonschema.validate(event.model_dump(mode="json"), schema, format_checker=checker)
    for producer in producers_of(event_class):
        record = to_record(envelope_of(event, producer))
        headers = {name: value.decode() for name, value in record.headers}
        jsonschema.validate(headers, record_headers_schema(event_class), format_checker=checker)
        assert record.key.decode() == event.subject
    with pytest.raises(jsonschema.ValidationError):
        forged = to_record(envelope_of(event, "someone-else"))
        jsonschema.validate({name: value.decode() for name, value in forged.headers},
                            record_headers_schema(event_class))
    whose = "site" if isinstance(event, NetworkEvent) else "patient"
    assert record_key_schema(event_class)["description"].startswith(f"The {whose} id")


def test_a_schema_rejects_what_a_consumer_could_not_read() -> None:
    schema = event_schema(PatientAdmitted)
    valid = PatientAdmitted(
        site_id="s", patient_id="p", program_id="iop", start_date=date(2026, 12, 1),
        days_per_week=4, planned_weeks=10, clinician_id="c", baseline_phq9=18,
    ).model_dump(mode="json")
    jsonschema.validate(valid, schema)
    for broken in ({**valid, "days_per_week": 9}, {**valid, "risk_level": "extreme"},
                   {k: v for k, v in valid.items() if k != "patient_id"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)
    jsonschema.validate({**valid, "added_later": 1}, schema)  # tolerant readers
    nested = event_schema(SitePoliciesChanged)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"site_id": "s", "policies": {"step_down_min_weeks": 0}}, nested)


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_serves_the_events_it_publishes_without_a_key(service: str) -> None:
    spec = importlib.import_module(f"services.{service}.service").SPEC
    answer = TestClient(create_app(spec)).get("/asyncapi.json")
    assert answer.status_code == 200
    document = answer.json()
    AsyncAPI3.model_validate(document)
    assert set(document["components"]["messages"]) == {
        e.__name__ for e in published_events() if service in producers_of(e)}
    expected = {service, "network"} if service == "intake" else {service}
    assert set(document["channels"]) == expected
    assert document == asyncapi_document(service)
