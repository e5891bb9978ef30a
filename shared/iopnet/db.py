"""Postgres connections: pools with JSON codecs set up."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

#: A connection of its own or one borrowed from a pool: the code that uses it cannot tell.
if TYPE_CHECKING:
    Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy[Any]
else:
    Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy


async def _init_connection(conn: Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def _nothing_to_reset(conn: Connection) -> None:
    """asyncpg has already rolled back what a request left open and dropped its listeners."""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10,
                      session_state: bool = True) -> asyncpg.Pool:
    """A pool; ``session_state=False`` for users that change the session only within a
    transaction (``SET LOCAL``, ``set_config(..., true)``, transaction-scoped locks):
    their connections go back without the reset query (RESET ALL, UNLISTEN *, unlock
    all), a round trip per release."""
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection,
        reset=None if session_state else _nothing_to_reset,
    )
    assert pool is not None
    return pool


async def connect(dsn: str, **options: Any) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(dsn, **options)
    await _init_connection(conn)
    return conn
