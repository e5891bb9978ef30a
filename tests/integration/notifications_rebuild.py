"""Notifications' own tables, dropped and projected again from its event store."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from iopnet.catalog import parse_event
from iopnet.db import Connection
from services.notifications.commands import EVENTS
from services.notifications.projections import project_recorded

#: The tables notifications projects from its own events (deleted last first).
OWN_TABLES = ("patient_contacts", "support_person_contacts", "site_channels", "site_templates",
              "messages", "delivery_log", "urgent_alert_causes", "alerts")


async def rebuild_own_tables(conn: Connection) -> None:
    """Empty the tables, then replay every stream through the projection of own events."""
    for table in reversed(OWN_TABLES):
        await conn.execute(f"DELETE FROM {table}")
    streams = await conn.fetch("SELECT stream_id FROM events GROUP BY stream_id"
                               " ORDER BY min(global_position)")
    for row in streams:
        for envelope in await EVENTS.read_stream(conn, row["stream_id"]):
            await project_recorded(conn, parse_event(envelope), envelope)


async def own_tables(conn: Connection, ignoring: Collection[str] = ()
                     ) -> dict[str, list[str]]:
    """Every row of the tables, as text, in a stable order (the log's serial id and the
    ``ignoring`` columns left out)."""
    return {table: sorted(str(sorted((k, v) for k, v in dict(row).items()
                                     if k not in ignoring and (k, table) != ("id", "delivery_log")))
                          for row in await conn.fetch(f"SELECT * FROM {table}"))
            for table in OWN_TABLES}


def plain_text_of(rows: list[Any]) -> str:
    return "\n".join(str(dict(row)) for row in rows)
