"""Every table is classified in docs/architecture.md: bookkeeping, or derived from events."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from iopnet.migrate import SHARED_MIGRATIONS

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
SERVICES = ("intake", "plans", "sessions", "family", "notifications")
KINDS = {"bookkeeping", "derived"}
#: Made by the migrator itself, not by a migration file.
MIGRATOR_TABLES = {"schema_migrations"}

#: A partition (``CREATE TABLE x PARTITION OF y``) is part of its parent, not a table of its own.
_CREATE = re.compile(r"CREATE\s+(?:UNLOGGED\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)"
                     r"\b(?!\s+PARTITION\s+OF)", re.I)
_DROP = re.compile(r"DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(\w+)", re.I)
_ROW = re.compile(r"^\|\s*`(\w+)`\s*\|\s*(\w+)\s*\|")


def tables_made_by(folder: Path) -> set[str]:
    tables: set[str] = set()
    for script in sorted(folder.glob("*.sql")):
        sql = script.read_text()
        tables |= set(_CREATE.findall(sql))
        tables -= set(_DROP.findall(sql))
    return tables


def classified(section: str) -> dict[str, str]:
    """The table → kind rows under ``### <section>`` of the architecture doc."""
    text = ARCHITECTURE.read_text().split("## Tables", 1)[1]
    heading = re.search(rf"^### {re.escape(section)}\b.*$", text, re.M)
    assert heading, f"docs/architecture.md has no '### {section}' under '## Tables'"
    body = text[heading.end():].split("\n### ", 1)[0]
    return {match[1]: match[2] for line in body.splitlines() if (match := _ROW.match(line))}


def test_every_shared_table_is_classified() -> None:
    rows = classified("shared")
    assert set(rows) == tables_made_by(SHARED_MIGRATIONS) | MIGRATOR_TABLES
    assert set(rows.values()) <= KINDS


@pytest.mark.parametrize("service", SERVICES)
def test_every_table_of_a_service_is_classified(service: str) -> None:
    rows = classified(service)
    assert set(rows) == tables_made_by(ROOT / "services" / service / "migrations")
    assert set(rows.values()) <= KINDS


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_rebuilds_exactly_its_derived_tables(service: str) -> None:
    from iopctl.stack import spec_of

    spec = spec_of(service)
    assert spec.project_own is not None
    derived = {table for table, kind in classified(service).items() if kind == "derived"}
    assert set(spec.derived_tables) == derived
    shared = {table for table, kind in classified("shared").items() if kind == "derived"}
    assert set(spec.rebuild_sources().tables) == derived | shared
