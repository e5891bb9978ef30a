"""A rebuild sends a run of one INSERT as one ``INSERT … SELECT FROM unnest``, and that
writes what one execution a row writes: an upsert of a key that repeats in the run, rows
skipped on a conflict, JSON, expressions of parameters; a statement with an array
parameter goes one execution a row. On the real Postgres."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from iopnet.db import connect
from iopnet.held_writes import HeldWrites
from tests.conftest import FreshDatabase

pytestmark = pytest.mark.integration

TABLE = ("CREATE TABLE {t} (id text PRIMARY KEY, n int NOT NULL, seen timestamptz,"
         " body jsonb, tags text[], note text, serial_id bigserial)")
STATEMENTS = (
    # DO UPDATE reading the row it updates: a key twice in a run must not go as one.
    "INSERT INTO {t} (id, n, seen, body) VALUES ($1, $2, $3, $4) ON CONFLICT (id)"
    " DO UPDATE SET n = {t}.n + $2, seen = $3, body = $4",
    "INSERT INTO {t} (id, n) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    "INSERT INTO {t} (id, n, note) VALUES ($1, $2, upper($3) || $1)"
    " ON CONFLICT (id) DO UPDATE SET note = EXCLUDED.note",
    "INSERT INTO {t} (id, n, tags) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET tags = $3",
)


def arguments(statement: int, patient: str | None, shuffle: random.Random
              ) -> tuple[object, ...]:
    """A patient's writes touch its own rows only (what lets runs reorder patients)."""
    key, n = f"{patient or 'site'}-{shuffle.choice('abcd')}", shuffle.randrange(100)
    if statement == 0:
        at = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(minutes=shuffle.randrange(60))
        return key, n, at, {"n": n, "nested": [key, None]}
    if statement == 2:
        return key, n, shuffle.choice(["x", "y", None])
    if statement == 3:
        return key, n, [key, str(n)]
    return key, n


async def test_runs_write_what_one_execution_a_row_writes(
        fresh_database: FreshDatabase) -> None:
    conn = await connect(await fresh_database("rebuild_writes"))
    try:
        for table in ("one_by_one", "in_runs"):
            await conn.execute(TABLE.format(t=table))
        shuffle = random.Random(15)
        writes = []
        for _ in range(400):
            statement = shuffle.randrange(len(STATEMENTS))
            patient = None if shuffle.random() < 0.05 else shuffle.choice(["ada", "bo", "cy"])
            writes.append((statement, arguments(statement, patient, shuffle), patient))
        deferred = HeldWrites(conn)
        async with conn.transaction():
            for statement, args, key in writes:
                await conn.execute(STATEMENTS[statement].format(t="one_by_one"), *args)
                deferred.key = key
                await deferred.execute(STATEMENTS[statement].format(t="in_runs"), *args)
            await deferred.flush()
        columns = "id, n, seen, body, tags, note"
        assert (await conn.fetch(f"SELECT {columns} FROM in_runs ORDER BY id")
                == await conn.fetch(f"SELECT {columns} FROM one_by_one ORDER BY id"))
        ways = [deferred._set_based[statement.format(t="in_runs")] for statement in STATEMENTS]
        assert [way is not None for way in ways] == [True, True, True, False]  # no array
        assert ways[0] is not None and ways[0].key == (0,)
    finally:
        await conn.close()
