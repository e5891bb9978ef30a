"""Private events: kept in the store, never published; personal data sealed, then forgettable."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from cryptography.exceptions import InvalidTag
from pydantic import BaseModel

from iopnet import data_keys
from iopnet.catalog import PrivatePatientEvent
from iopnet.eventstore import Cause, EventStore
from tests.conftest import eventually
from tests.integration.test_event_store import nudges, referred

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


async def test_private_events_alone_wake_no_relay(db_pool: asyncpg.Pool) -> None:
    async def append(conn: asyncpg.Connection) -> None:
        await STORE.append(conn, "patient-p-1", 0, [noted(), noted("Ada")], CAUSE)

    assert await nudges(db_pool, append) == ["end"]
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
        assert await conn.fetchval("SELECT count(*) FROM events") == 2


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


async def test_a_key_made_meanwhile_by_another_transaction_is_the_one_used(
    db_pool: asyncpg.Pool,
) -> None:
    """The key is made or read in one statement, whose snapshot cannot see a key another
    transaction commits while it waits on that key's row: it then reads it again."""
    async with db_pool.acquire() as first, db_pool.acquire() as second:
        async with first.transaction():
            made = await data_keys.key_for(first, "p-1")
            waiting = asyncio.create_task(data_keys.key_for(second, "p-1"))

            async def blocked() -> bool:
                return bool(await first.fetchval(
                    "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1",
                    second.get_server_pid()))

            await eventually(blocked)
        assert await waiting == made


async def test_the_keys_read_with_a_stream_seal_what_is_appended_next(db_pool: asyncpg.Pool
                                                                       ) -> None:
    async with db_pool.acquire() as conn:
        await STORE.append(conn, "patient-p-1", 0, [referred(), noted("Adaline")], CAUSE)
        keys: dict[str, bytes] = {}
        await STORE.read_stream(conn, "patient-p-1", keys=keys)
        assert keys == {"p-1": await data_keys.key_for(conn, "p-1")}
        await STORE.append(conn, "patient-p-1", 2, [noted("Ada")], CAUSE, keys=keys)
        stream = await STORE.read_stream(conn, "patient-p-1")
        assert [e.data.get("identity") for e in stream] == [
            None, {"given_name": "Adaline"}, {"given_name": "Ada"}]

        await data_keys.destroy_key(conn, "p-1")
        forgotten: dict[str, bytes] = {}
        await STORE.read_stream(conn, "patient-p-1", keys=forgotten)
        assert forgotten == {}
