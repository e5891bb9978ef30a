"""Server-agnostic asyncpg helpers: readiness probe and database create/drop."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

import asyncpg

_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def quote_db_name(name: str) -> str:
    """Validate a database name (lowercase identifier) and double-quote it."""
    if not _DB_NAME.match(name):
        raise ValueError(f"invalid database name {name!r}: use [a-z_][a-z0-9_]*")
    return f'"{name}"'


def with_database(dsn: str, database: str) -> str:
    """``dsn`` with its database (URL path) replaced."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def select_one(dsn: str, connect_timeout: float = 5.0) -> None:
    connection = await asyncpg.connect(dsn, timeout=connect_timeout)
    try:
        value = await connection.fetchval("SELECT 1")
        if value != 1:
            raise RuntimeError(f"SELECT 1 returned {value!r}")
    finally:
        await connection.close()


async def ensure_databases(admin_dsn: str, names: list[str]) -> list[str]:
    """Create the missing databases among ``names``; return the ones created."""
    created: list[str] = []
    connection = await asyncpg.connect(admin_dsn)
    try:
        existing = {
            row["datname"] for row in await connection.fetch("SELECT datname FROM pg_database")
        }
        for name in names:
            if name not in existing:
                await connection.execute(f"CREATE DATABASE {quote_db_name(name)}")
                created.append(name)
    finally:
        await connection.close()
    return created


async def drop_database(admin_dsn: str, name: str) -> None:
    """Drop ``name`` if it exists, disconnecting its sessions (PG 13+)."""
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f"DROP DATABASE IF EXISTS {quote_db_name(name)} WITH (FORCE)")
    finally:
        await connection.close()


async def recreate_database(admin_dsn: str, name: str) -> str:
    """Drop and create ``name`` empty; return its DSN."""
    await drop_database(admin_dsn, name)
    await ensure_databases(admin_dsn, [name])
    return with_database(admin_dsn, name)
