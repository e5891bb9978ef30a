"""A rebuild opens the sealed data of its own events as reading the stream does: only the
envelopes whose stored JSON has the sealed marker are looked at, and a value that only
looks like the marker is left as it is. On the real Postgres."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Any, cast

import asyncpg
import pytest

from iopnet import data_keys
from iopnet.catalog import Relationship
from iopnet.db import connect
from iopnet.eventstore import Cause, EventStore
from iopnet.rebuild import _entries
from services.family.domain import FamilyCircle
from services.family.domain.circle import PersonName
from tests.conftest import FreshDatabase

pytestmark = pytest.mark.integration

FAMILY = EventStore.of("family")


def circle(patient_id: str, name: str) -> FamilyCircle:
    made = FamilyCircle(patient_id)
    made.open("north", date(2026, 12, 1), 18)
    made.link_support_person(str(uuid.uuid4()), Relationship.PARTNER, PersonName(name, "Doe"))
    return made


async def test_sealed_data_is_opened_as_the_stream_reads_it(
        fresh_database: FreshDatabase) -> None:
    conn = await connect(await fresh_database("rebuild_sealed"))
    try:
        kept, forgotten = str(uuid.uuid4()), str(uuid.uuid4())
        for patient, name in ((kept, "Grace"), (forgotten, "Ada")):
            made = circle(patient, name)
            await FAMILY.append(conn, made.stream_id, 0, made.pending, Cause("t", "t"))
        await data_keys.destroy_key(conn, forgotten)
        rows: list[Any] = [dict(row) for row in await conn.fetch(
            "SELECT recorded_at AS at, global_position AS position, envelope::text AS envelope"
            " FROM events ORDER BY global_position")]
        # A value that reads like the marker, in an event with nothing sealed.
        lookalike = rows[0]["envelope"].replace('"north"', '"$sealed"')
        rows.append({**rows[0], "envelope": lookalike})
        assert '"$sealed"' in lookalike

        entries = await _entries(conn, asyncio.Lock(), cast(list[asyncpg.Record], rows), True)

        streams = [await FAMILY.read_stream(conn, circle(p, "").stream_id)
                   for p in (kept, forgotten)]
        read = {envelope.id: envelope for stream in streams for envelope in stream}
        assert len(read) == len(entries) - 1
        assert [e.envelope for e in entries[:-1]] == [read[e.envelope.id] for e in entries[:-1]]
        names = {e.envelope.subject: e.envelope.data for e in entries
                 if e.envelope.type.endswith("SupportPersonNamed")}
        assert names[kept]["given_name"] == "Grace"
        assert names[forgotten]["given_name"] is None
        assert entries[-1].envelope.data["site_id"] == "$sealed"
    finally:
        await conn.close()
