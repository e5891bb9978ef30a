"""Consumers are tolerant readers, and old events are read at their current version.

For every event type in the catalog: an example built from its model, with an
unknown field added at every nesting level and an unknown envelope attribute,
still parses to the same event through the Kafka binding, as a consumer reads
it. Every versioned event upcasts from its first version.
"""

from __future__ import annotations

import types
from datetime import date, datetime, time
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

import services.family.service
import services.intake.service
import services.notifications.service
import services.plans.service
import services.sessions.service  # noqa: F401  (their private events join the catalog)
from iopnet.catalog import (
    CATALOG,
    ConsentGranted,
    ConsentRevoked,
    DomainEvent,
    ExitSummarized,
    parse_event,
)
from iopnet.catalog.upcasting import UPCASTERS
from iopnet.envelope import EventEnvelope
from iopnet.kafka_binding import from_record, to_record

pytestmark = pytest.mark.unit

UNKNOWN = {"added_by_a_newer_producer": {"nested": [1, "two"]}}


def example_of(annotation: Any, field: FieldInfo | None = None) -> Any:
    """A valid JSON value for a type, inside the field's bounds."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        return example_of(next(a for a in args if a is not type(None)), field)
    if origin is list:
        return [example_of(args[0])]
    if origin is dict:
        return {"key": example_of(args[1])}
    if origin is Literal:
        return args[0]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {name: example_of(info.annotation, info)
                for name, info in annotation.model_fields.items()}
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return next(iter(annotation)).value
    return _scalar(annotation, field)


def _scalar(annotation: Any, field: FieldInfo | None) -> Any:
    low = next((m.ge if isinstance(m, annotated_types.Ge) else m.gt
                for m in (field.metadata if field else ())
                if isinstance(m, annotated_types.Ge | annotated_types.Gt)), None)
    scalars: dict[Any, Any] = {
        bool: True, int: int(low or 0) + 1, float: float(low or 0) + 0.5, str: "x-1",
        date: "2026-12-01", datetime: "2026-12-01T09:00:00+00:00", time: "09:00:00",
    }
    return scalars[annotation]


def with_unknown_fields(value: Any) -> Any:
    """The value with an unknown field added to every object inside it."""
    if isinstance(value, dict):
        return {**{k: with_unknown_fields(v) for k, v in value.items()}, **UNKNOWN}
    if isinstance(value, list):
        return [with_unknown_fields(item) for item in value]
    return value


def envelope_of(event_type: str, data: dict[str, Any], version: int = 1) -> EventEnvelope:
    return EventEnvelope(source="/iopnet/test", type=event_type, subject="p-1", siteid="s-1",
                         streamid="stream-1", streamversion=1, correlationid="c",
                         causationid="c", schemaversion=version, data=data)


PUBLISHED = sorted((t, c) for t, c in CATALOG.items() if c.published)


@pytest.mark.parametrize(("event_type", "event_class"), PUBLISHED, ids=[t for t, _ in PUBLISHED])
def test_an_unknown_field_at_every_level_and_an_unknown_attribute_are_ignored(
    event_type: str, event_class: type[DomainEvent],
) -> None:
    example = example_of(event_class)
    expected = event_class.model_validate(example)
    record = to_record(envelope_of(event_type, with_unknown_fields(example),
                                   event_class.schema_version))
    headers = [*record.headers, ("ce_addedattribute", b"from a newer producer")]
    assert parse_event(from_record(record.value, headers)) == expected


def test_a_stored_envelope_with_an_unknown_attribute_is_read() -> None:
    stored = {**envelope_of("iopnet.ConsentRevoked", {}).model_dump(mode="json"),
              "addedattribute": "x"}
    assert EventEnvelope.model_validate(stored).type == "iopnet.ConsentRevoked"


VERSIONED = [c for c in CATALOG.values() if c.schema_version > 1]


@pytest.mark.parametrize("event_class", VERSIONED, ids=[c.__name__ for c in VERSIONED])
def test_every_version_of_a_versioned_event_has_an_upcaster(event_class: type[DomainEvent]
                                                             ) -> None:
    for version in range(1, event_class.schema_version):
        assert (event_class.event_type, version) in UPCASTERS


def test_a_consent_revoked_at_version_1_reads_as_final() -> None:
    v1 = {"patient_id": "p-1", "site_id": "s-1", "consent_id": "c-1",
          "support_person_id": "sp-1"}
    event = parse_event(envelope_of(ConsentRevoked.event_type, v1, version=1))
    assert isinstance(event, ConsentRevoked)
    assert event.replaced_by is None


def test_an_exit_summary_at_version_1_did_not_know_of_a_safety_plan_review() -> None:
    v1 = {"patient_id": "p-1", "site_id": "s-1", "exit": "discharged",
          "effective_on": "2026-12-01", "baseline_phq9": 18, "response": False,
          "remission": False, "sessions_attended": 3, "sessions_scheduled": 4,
          "risk_signals": ["phq9_item9"], "safety_plan": "unknown"}
    event = parse_event(envelope_of(ExitSummarized.event_type, v1, version=1))
    assert isinstance(event, ExitSummarized)
    assert (event.safety_plan, event.safety_plan_reviewed_since_risk) == ("unknown", None)


@pytest.mark.parametrize(("scope", "covers"), [
    ("schedule", ["schedule"]), ("progress_summaries", ["progress_summaries", "schedule"])])
def test_a_consent_granted_at_version_1_covers_what_it_covered_then(
        scope: str, covers: list[str]) -> None:
    v1 = {"patient_id": "p-1", "site_id": "s-1", "consent_id": "c-1",
          "support_person_id": "sp-1", "scope": scope}
    event = parse_event(envelope_of(ConsentGranted.event_type, v1, version=1))
    assert isinstance(event, ConsentGranted)
    assert [c.value for c in event.covers] == covers
    assert not event.covers_family_participation
