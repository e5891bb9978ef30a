"""What a rebuild can tell from a projector's SQL without running it.

Projectors write with plain statements and positional parameters. Two forms are
recognised here, and only those, exactly; anything else is "not understood", and the
caller falls back to what is always right (a read, or one execution per row):

- ``INSERT INTO t (columns) VALUES (expressions) [ON CONFLICT [(keys)] DO NOTHING |
  DO UPDATE SET ...]``: which parameter fills which column, and the same rows as one
  ``INSERT … SELECT … FROM unnest(...)`` (``Insert.set_based``);
- ``UPDATE t SET ... WHERE ...`` and ``DELETE FROM t WHERE ...``: which columns an
  update assigns, and whether the statement touches the rows of one ``patient_id``
  parameter only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

_INSERT = re.compile(r"\s*INSERT\s+INTO\s+(\w+)\s*\(([^()]*)\)\s*VALUES\s*\(", re.I | re.S)
_CONFLICT = re.compile(r"\s*ON\s+CONFLICT\s*(?:\(([^()]*)\))?\s*DO\s+(NOTHING|UPDATE\s+SET\s+(.*))",
                       re.I | re.S)
_UPDATE = re.compile(r"\s*UPDATE\s+(\w+)\s+SET\s+(.*?)\s+WHERE\s+(.*)", re.I | re.S)
_DELETE = re.compile(r"\s*DELETE\s+FROM\s+(\w+)\s+WHERE\s+(.*)", re.I | re.S)
_ONE_PATIENT = re.compile(r"\s*patient_id\s*=\s*\$(\d+)\s*", re.I)
_PARAMETER = re.compile(r"\$(\d+)")
_PLAIN = re.compile(r"\s*\$(\d+)\s*")
_RETURNING = re.compile(r"\bRETURNING\b", re.I)


def _structure(text: str) -> tuple[list[tuple[int, str, int]], bool]:
    """The parentheses and commas of ``text`` outside quoted strings and identifiers,
    each with its depth (a parenthesis: the depth around it); and whether every quote
    closed."""
    marks: list[tuple[int, str, int]] = []
    depth, quote = 0, ""
    for n, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "(":
            marks.append((n, char, depth))
            depth += 1
        elif char == ")":
            depth -= 1
            marks.append((n, char, depth))
        elif char == ",":
            marks.append((n, char, depth))
    return marks, not quote


def _closing(text: str, start: int) -> int:
    """Where the parenthesis opened just before ``start`` closes (-1: nowhere)."""
    marks, _ = _structure(text[start:])
    return next((start + n for n, char, depth in marks if char == ")" and depth < 0), -1)


def _top_level(text: str) -> list[str] | None:
    """``text`` split at its commas outside parentheses and quotes; None if unbalanced."""
    marks, closed = _structure(text)
    opened = sum(1 if char == "(" else -1 for _, char, _ in marks if char != ",")
    if not closed or opened or any(depth < 0 for _, _, depth in marks):
        return None
    cuts = [n for n, char, depth in marks if char == "," and depth == 0]
    return [text[a + 1:b].strip() for a, b in zip([-1, *cuts], [*cuts, len(text)],
                                                  strict=True)]


def plain_parameter(expression: str) -> int | None:
    """The index (from 0) of the parameter that is the whole expression, if it is one."""
    match = _PLAIN.fullmatch(expression)
    return int(match[1]) - 1 if match else None


@lru_cache(maxsize=1024)
def mentions(query: str, table: str) -> bool:
    return re.search(rf"\b{re.escape(table)}\b", query) is not None


@dataclass(frozen=True)
class Insert:
    table: str
    columns: tuple[str, ...]
    #: One expression a column, in the columns' order.
    values: tuple[str, ...]
    #: None: no ON CONFLICT clause.
    conflict: str | None
    #: The conflict target's columns; empty without a target.
    keys: tuple[str, ...]
    #: The ``DO UPDATE SET`` clause (with its WHERE), or None for DO NOTHING.
    updates: str | None

    def parameter_of(self, column: str) -> int | None:
        """The parameter that is the whole value of ``column``, if one is."""
        if column not in self.columns:
            return None
        return plain_parameter(self.values[self.columns.index(column)])

    def assigns_on_conflict(self, column: str) -> bool:
        if self.updates is None:
            return False
        columns = assigned(self.updates)  # a WHERE after them is in the last one's value
        return column in columns or "*" in columns

    def set_based(self, types: Sequence[str]) -> tuple[str, tuple[int, ...] | None] | None:
        """The statement for many rows at once, with ``types`` the parameters' types:
        each parameter an array, unnested. With it, the parameters whose values must not
        repeat within one execution (DO UPDATE may not touch a row twice), or None.
        None if the rows cannot go as one: the values read the table written (they would
        not see the rows before them), or DO UPDATE uses a parameter no column is."""
        if any(mentions(value, self.table) for value in self.values):
            return None
        names = [f"u.p{n + 1}" for n in range(len(types))]

        def unnested(text: str) -> str:
            return _PARAMETER.sub(lambda m: names[int(m[1]) - 1], text)

        conflict = ""
        key: tuple[int, ...] | None = None
        if self.conflict is not None:
            conflict = " " + self.conflict
            if self.updates is not None:
                by_parameter: dict[int, str] = {}
                for column, value in zip(self.columns, self.values, strict=True):
                    if (n := plain_parameter(value)) is not None:
                        by_parameter.setdefault(n, column)  # where Postgres typed it
                used = {int(m) - 1 for m in _PARAMETER.findall(self.updates)}
                keys = [self.parameter_of(k) for k in self.keys]
                if not self.keys or None in keys or not used <= by_parameter.keys():
                    return None
                key = tuple(k for k in keys if k is not None)
                # DO UPDATE sees the target and EXCLUDED, not the unnested rows.
                conflict = _PARAMETER.sub(lambda m: f"EXCLUDED.{by_parameter[int(m[1]) - 1]}",
                                          conflict)
        arrays = ", ".join(f"${n + 1}::{kind}[]" for n, kind in enumerate(types))
        return (f"INSERT INTO {self.table} ({', '.join(self.columns)})"
                f" SELECT {', '.join(unnested(v) for v in self.values)}"
                f" FROM unnest({arrays}) AS u({', '.join(n[2:] for n in names)})"
                f"{conflict}", key)


@lru_cache(maxsize=1024)
def insert(query: str) -> Insert | None:
    """``query`` as a plain ``INSERT … VALUES`` of one row, if it is one."""
    head = _INSERT.match(query)
    if head is None:
        return None
    end = _closing(query, head.end())
    values = _top_level(query[head.end():end]) if end > 0 else None
    columns = [c.strip().strip('"') for c in head[2].split(",")]
    if values is None or len(values) != len(columns):
        return None
    rest = query[end + 1:]
    conflict = _CONFLICT.fullmatch(rest)
    if (rest.strip() and conflict is None) or _RETURNING.search(rest):
        return None
    keys: tuple[str, ...] = ()
    if conflict is not None and conflict[1] is not None:
        keys = tuple(k.strip().strip('"') for k in conflict[1].split(","))
    return Insert(head[1], tuple(columns), tuple(values),
                  rest.strip() if conflict is not None else None, keys,
                  conflict[3] if conflict is not None else None)


def assigned(assignments: str) -> set[str]:
    """The columns a ``SET`` list assigns (every column, if it cannot tell)."""
    parts = _top_level(assignments)
    if parts is None:
        return {"*"}
    columns = set()
    for part in parts:
        column, equals, _ = part.partition("=")
        if not equals or not re.fullmatch(r"\s*\w+\s*", column):
            return {"*"}
        columns.add(column.strip())
    return columns


@dataclass(frozen=True)
class Change:
    """An UPDATE or a DELETE of one table."""

    table: str
    #: The columns an update assigns ({"*"}: cannot tell); None for a delete.
    assigns: set[str] | None
    #: Its value's parameter if the statement's WHERE is ``patient_id = $n`` alone.
    patient: int | None
    #: The parameter assigned to each column that is assigned one alone.
    parameters: dict[str, int]


@lru_cache(maxsize=1024)
def change(query: str) -> Change | None:
    if (update := _UPDATE.fullmatch(query)) is not None:
        if _RETURNING.search(update[3]) or re.search(r"\bFROM\b", update[2], re.I):
            return None
        parameters = {}
        for part in _top_level(update[2]) or []:
            column, _, value = part.partition("=")
            if (n := plain_parameter(value)) is not None:
                parameters[column.strip()] = n
        return Change(update[1], assigned(update[2]), _patient(update[3]), parameters)
    if (delete := _DELETE.fullmatch(query)) is not None:
        if _RETURNING.search(delete[2]):
            return None
        return Change(delete[1], None, _patient(delete[2]), {})
    return None


def _patient(where: str) -> int | None:
    match = _ONE_PATIENT.fullmatch(where)
    return int(match[1]) - 1 if match else None
