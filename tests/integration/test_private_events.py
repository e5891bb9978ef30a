"""Private events: kept in the store, never published; personal data sealed, then forgettable."""

from __future__ import annotations

import asyncpg
import pytest
from cryptography.exceptions import InvalidTag
from pydantic import BaseModel

from iopnet import data_keys
from iopnet.catalog import PrivatePatientEvent
from iopnet.eventstore import Cause, EventStore
from tests.integration.test_event_store import referred

pytestmark = pytest.mark.integration

STORE = EventStore(source="/iopnet/test", topic="iopnet.test.events")
CAUSE = Cause("corr", "cause")


class NoteName(BaseModel):
    given_name: str


class IdentityNoted(PrivatePatientEvent):
    sealed_fields = ("identity",)

    identity: NoteName | None


def noted(name: str = "Adaline") -> IdentityNoted:
    return IdentityNoted(patient_id="p-1", site_id="s-1", identity=NoteName(given_name=name))


async def test_a_private_event_is_stored_but_never_enqueued(db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn:
        await STORE.append(conn, "patient-p-1", 0, [referred(), noted()], CAUSE)
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 1
        kept = await conn.fetch("SELECT published, topic FROM events ORDER BY stream_version")
        assert [(row["published"], row["topic"]) for row in kept] == [
            (True, "iopnet.test.events"), (False, None)]


async def test_personal_data_is_sealed_at_rest_and_read_in_clear(db_pool: asyncpg.Pool
                                                                  ) -> None:
    async with db_pool.acquire() as conn:
        await STORE.append(conn, "patient-p-1", 0, [noted("Adaline")], CAUSE)
        raw = await conn.fetchval("SELECT envelope::text FROM events")
        assert "Adaline" not in raw
        [read] = await STORE.read_stream(conn, "patient-p-1")
        assert read.data["identity"] == {"given_name": "Adaline"}


async def test_a_forgotten_patient_reads_as_redacted_and_cannot_be_sealed_again(
    db_pool: asyncpg.Pool,
) -> None:
    async with db_pool.acquire() as conn:
        await STORE.append(conn, "patient-p-1", 0, [referred(), noted()], CAUSE)
        await data_keys.destroy_key(conn, "p-1")
        stream = await STORE.read_stream(conn, "patient-p-1")
        assert stream[1].data["identity"] is None
        assert IdentityNoted.model_validate(stream[1].data).identity is None
        with pytest.raises(data_keys.SubjectForgotten):
            await STORE.append(conn, "patient-p-1", 2, [noted()], CAUSE)
        assert await data_keys.is_forgotten(conn, "p-1")


async def test_a_sealed_value_moved_to_another_event_does_not_open(db_pool: asyncpg.Pool
                                                                   ) -> None:
    async with db_pool.acquire() as conn:
        key = await data_keys.key_for(conn, "p-1")
        sealed = data_keys.seal(key, {"given_name": "Adaline"}, "event-1/identity")
        assert data_keys.unseal(key, sealed, "event-1/identity") == {"given_name": "Adaline"}
        with pytest.raises(InvalidTag):
            data_keys.unseal(key, sealed, "event-2/identity")
