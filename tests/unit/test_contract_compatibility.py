"""The compatibility checker, on synthetic before/after schemas: every kind of breaking
change is caught, additive changes pass, and a raised schemaversion needs its upcasters."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any

import pytest
from pydantic import BaseModel

from iopnet.contract_compatibility import VersionedSchema, breaking_changes, schema_breaks

pytestmark = pytest.mark.unit

Schema = dict[str, Any]


def schema_of(model: type[BaseModel]) -> Schema:
    return model.model_json_schema(mode="serialization")


class Color(StrEnum):
    RED = "red"
    GREEN = "green"


class FewerColors(StrEnum):
    RED = "red"


class MoreColors(StrEnum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class Part(BaseModel):
    code: str
    color: Color


class Before(BaseModel):
    patient_id: str
    seen_on: date
    count: int
    note: str | None = None
    color: Color = Color.RED
    parts: list[Part]


class Additive(BaseModel):
    """New optional fields (top level and nested), a wider enum: nothing breaks."""

    class WiderPart(BaseModel):
        code: str
        color: MoreColors
        weight: float | None = None

    patient_id: str
    seen_on: date
    count: int
    note: str | None = None
    color: MoreColors = MoreColors.RED
    parts: list[WiderPart]
    added: int = 0
    also_added: list[str] | None = None


def test_additive_changes_break_nothing() -> None:
    assert schema_breaks(schema_of(Before), schema_of(Additive)) == []
    assert schema_breaks(schema_of(Before), schema_of(Before)) == []


def changed(**fields: Any) -> Schema:
    """Before's schema with some properties replaced (None removes one)."""
    schema = schema_of(Before)
    for name, replacement in fields.items():
        if replacement is None:
            del schema["properties"][name]
            schema["required"] = [r for r in schema["required"] if r != name]
        else:
            schema["properties"][name] = replacement
    return schema


@pytest.mark.parametrize(("after", "reason"), [
    (changed(count=None), "field count removed"),
    (changed(count={"type": "string"}), "count: type changed from integer to string"),
    (changed(count={"type": "number"}), "count: type changed from integer to number"),
    (changed(seen_on={"type": "string", "format": "date-time"}),
     "seen_on: type changed from string(date) to string(date-time)"),
    (changed(note={"type": "string"}), "note: type changed from null | string to string"),
    (changed(patient_id={"anyOf": [{"type": "string"}, {"type": "null"}]}),
     "patient_id: type changed from string to null | string"),
], ids=["removed", "int-to-str", "int-to-number", "date-format", "optional-to-required-type",
        "nullable"])
def test_each_breaking_change_is_caught(after: Schema, reason: str) -> None:
    assert reason in schema_breaks(schema_of(Before), after)


def test_a_narrowed_enum_is_caught() -> None:
    class Narrowed(Before):
        color: FewerColors = FewerColors.RED

    assert schema_breaks(schema_of(Before), schema_of(Narrowed)) == [
        "color: enum values removed: green"]


def test_a_new_required_field_and_a_field_made_required_are_caught() -> None:
    class NewRequired(Before):
        clinician_id: str

    class NoteRequired(Before):
        note: str | None  # the default is gone

    assert schema_breaks(schema_of(Before), schema_of(NewRequired)) == [
        "field clinician_id is now required"]
    assert schema_breaks(schema_of(Before), schema_of(NoteRequired)) == [
        "field note is now required"]


def test_breaking_changes_in_nested_parts_name_the_path() -> None:
    class NarrowPart(BaseModel):
        code: int
        color: FewerColors

    class After(Before):
        parts: list[NarrowPart]

    assert schema_breaks(schema_of(Before), schema_of(After)) == [
        "parts[].code: type changed from string to integer",
        "parts[].color: enum values removed: green",
    ]


def versions(**schemas: tuple[int, Schema]) -> dict[str, VersionedSchema]:
    return {f"iopnet.{name}": VersionedSchema(version, schema)
            for name, (version, schema) in schemas.items()}


def test_a_removed_event_type_breaks_and_a_new_one_does_not() -> None:
    released = versions(Seen=(1, schema_of(Before)), Gone=(1, schema_of(Before)))
    current = versions(Seen=(1, schema_of(Before)), New=(1, schema_of(Additive)))
    assert breaking_changes(released, current, set()) == ["iopnet.Gone: event type removed"]


def test_a_breaking_change_passes_only_with_a_raised_version_and_its_upcasters() -> None:
    broken = changed(count=None)
    released = versions(Seen=(1, schema_of(Before)))
    assert breaking_changes(released, versions(Seen=(1, broken)), set()) == [
        "iopnet.Seen v1: field count removed"]
    assert breaking_changes(released, versions(Seen=(3, broken)), {("iopnet.Seen", 1)}) == [
        "iopnet.Seen: schemaversion raised from 1 to 3 without an upcaster from v2"]
    upcasters = {("iopnet.Seen", 1), ("iopnet.Seen", 2)}
    assert breaking_changes(released, versions(Seen=(3, broken)), upcasters) == []
    assert breaking_changes(versions(Seen=(2, broken)), versions(Seen=(1, broken)), upcasters
                            ) == ["iopnet.Seen: schemaversion went back from 2 to 1"]
