"""Whether the current event contracts break a consumer of a released one.

A consumer built against a release must keep reading every event it is sent.
Within one ``schemaversion`` that allows additive changes only: a new optional
field, a new enum value, a new event type. Breaking, for an event type of the
release: removing it, removing a field, changing a field's type (or format),
requiring a field that was optional or new, dropping an enum value. A breaking
change is allowed only with a raised ``schemaversion`` and an upcaster for each
step (``iopnet.catalog.upcasting.UPCASTERS``), which reads the older data as the
new version.

Pure: schemas in, reasons out. ``iopctl contracts check`` and the tests feed it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]


@dataclass(frozen=True)
class VersionedSchema:
    """An event type's payload schema at one ``schemaversion``."""

    version: int
    schema: Schema


def breaking_changes(released: Mapping[str, VersionedSchema],
                     current: Mapping[str, VersionedSchema],
                     upcasters: Collection[tuple[str, int]]) -> list[str]:
    """Why ``current`` breaks consumers of ``released`` (both by event type); [] if nothing."""
    reasons: list[str] = []
    for event_type, before in sorted(released.items()):
        after = current.get(event_type)
        if after is None:
            reasons.append(f"{event_type}: event type removed")
        elif after.version < before.version:
            reasons.append(f"{event_type}: schemaversion went back from {before.version}"
                           f" to {after.version}")
        elif after.version > before.version:
            reasons += _missing_upcasters(event_type, before.version, after.version, upcasters)
        else:
            reasons += [f"{event_type} v{after.version}: {reason}"
                        for reason in schema_breaks(before.schema, after.schema)]
    return reasons


def _missing_upcasters(event_type: str, start: int, end: int,
                       upcasters: Collection[tuple[str, int]]) -> list[str]:
    return [f"{event_type}: schemaversion raised from {start} to {end} without an upcaster"
            f" from v{version}" for version in range(start, end)
            if (event_type, version) not in upcasters]


def schema_breaks(before: Schema, after: Schema) -> list[str]:
    """The breaking differences between two versions of one JSON Schema (refs resolved)."""
    return _Comparison(before, after).node(before, after, "")


class _Comparison:
    def __init__(self, before_root: Schema, after_root: Schema) -> None:
        self.before_root = before_root
        self.after_root = after_root

    def node(self, before: Schema, after: Schema, where: str) -> list[str]:
        old = _branches(self.before_root, before)
        new = _branches(self.after_root, after)
        at = where or "the event"
        if set(old) != set(new):
            return [f"{at}: type changed from {_kinds(old)} to {_kinds(new)}"]
        reasons = _narrowed_enum(old.values(), new.values(), at)
        for kind, old_node in old.items():
            if kind == "object":
                reasons += self.object(old_node, new[kind], where)
            elif kind == "array":
                reasons += self.node(old_node.get("items", {}), new[kind].get("items", {}),
                                     f"{where}[]")
        return reasons

    def object(self, before: Schema, after: Schema, where: str) -> list[str]:
        old_fields: Schema = before.get("properties", {})
        new_fields: Schema = after.get("properties", {})
        prefix = f"{where}." if where else ""
        reasons = [f"field {prefix}{name} removed" for name in old_fields if name not in new_fields]
        newly_required = set(after.get("required", ())) - set(before.get("required", ()))
        reasons += [f"field {prefix}{name} is now required" for name in sorted(newly_required)]
        for name in old_fields.keys() & new_fields.keys():
            reasons += self.node(old_fields[name], new_fields[name], prefix + name)
        return sorted(reasons)


def _resolve(root: Schema, node: Schema) -> Schema:
    """The schema a local ``$ref`` (``#/$defs/X``, ``#/components/schemas/X``) points at."""
    while "$ref" in node:
        target: Any = root
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _branches(root: Schema, node: Schema) -> dict[str, Schema]:
    """A schema's alternatives by kind (``string``, ``string(date)``, ``object``, ``null``...)."""
    node = _resolve(root, node)
    alternatives = node.get("anyOf") or node.get("oneOf")
    if alternatives:
        found: dict[str, Schema] = {}
        for alternative in alternatives:
            found.update(_branches(root, alternative))
        return found
    return {kind: node for kind in _own_kinds(node)}


def _own_kinds(node: Schema) -> list[str]:
    declared = node.get("type")
    if declared is None and ("enum" in node or "const" in node):
        values = node.get("enum", [node.get("const")])
        declared = sorted({_json_type(value) for value in values})
    if declared is None:
        return ["any"]
    types = [declared] if isinstance(declared, str) else list(declared)
    return [f"{kind}({node['format']})" if "format" in node else kind for kind in types]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "array" if isinstance(value, list) else "object" if isinstance(value, dict) \
        else "string"


def _kinds(branches: Mapping[str, Schema]) -> str:
    return " | ".join(sorted(branches))


def _narrowed_enum(before: Iterable[Schema], after: Iterable[Schema], at: str) -> list[str]:
    old, new = _allowed_values(before), _allowed_values(after)
    if old is None or new is None:  # no enum before, or none now (any value): not narrowed
        return []
    lost = [value for value in old if value not in new]
    return [f"{at}: enum values removed: {', '.join(map(str, lost))}"] if lost else []


def _allowed_values(branches: Iterable[Schema]) -> list[Any] | None:
    """The values an enumerated schema allows (null when a branch allows it), None if any."""
    values: list[Any] = []
    for branch in branches:
        if "enum" in branch:
            values += branch["enum"]
        elif "const" in branch:
            values.append(branch["const"])
        elif branch.get("type") == "null":
            values.append(None)
        else:
            return None
    return values
