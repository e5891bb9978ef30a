"""Server-agnostic asyncpg helpers: readiness probe and database create/drop."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
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


#: Who owns the schema and runs the migrations; nothing else connects as it.
OWNER = "iopnet_owner"
#: Who the services connect as: a member of the runtime roles, owner of nothing.
RUNTIME = "iopnet_runtime"
RUNTIME_ROLES = ("iopnet_api", "iopnet_worker")
#: Local logins only (trust on loopback makes it moot; a container's server checks it).
LOCAL_PASSWORD = "iopnet"


@dataclass(frozen=True)
class ServiceDsns:
    """One service database's two DSNs: the services' login and the migration owner's."""

    runtime: str
    owner: str


def as_user(dsn: str, user: str, password: str | None = LOCAL_PASSWORD) -> str:
    """``dsn`` with another user (and password)."""
    parts = urlsplit(dsn)
    login = f"{user}:{password}" if password else user
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{login}@{host}"))


async def ensure_roles(admin_dsn: str) -> None:
    """The owner, the runtime login and the roles it takes (cluster-wide; idempotent)."""
    connection = await asyncpg.connect(admin_dsn)
    try:
        for role, options in [(OWNER, f"LOGIN PASSWORD '{LOCAL_PASSWORD}'"),
                              (RUNTIME, f"LOGIN PASSWORD '{LOCAL_PASSWORD}'"),
                              *[(r, "NOLOGIN") for r in (*RUNTIME_ROLES, "iopnet_audit_admin")]]:
            if not await connection.fetchval("SELECT true FROM pg_roles WHERE rolname = $1",
                                             role):
                with contextlib.suppress(asyncpg.DuplicateObjectError,
                                         asyncpg.UniqueViolationError):  # made meanwhile
                    await connection.execute(f"CREATE ROLE {role} {options}")
        for role in RUNTIME_ROLES:
            await connection.execute(f"GRANT {role} TO {RUNTIME}")
    finally:
        await connection.close()


async def hand_to_owner(admin_dsn: str, database: str) -> ServiceDsns:
    """Give ``database`` and everything in its schema to the owner; both DSNs.

    A database made before the owner existed (the superuser's tables) is handed over
    whole, so its next migration can apply the runtime privileges.
    """
    await ensure_roles(admin_dsn)
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f"ALTER DATABASE {quote_db_name(database)} OWNER TO {OWNER}")
    finally:
        await connection.close()
    dsn = with_database(admin_dsn, database)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(_HAND_OVER_SCHEMA)
    finally:
        await connection.close()
    return ServiceDsns(runtime=as_user(dsn, RUNTIME), owner=as_user(dsn, OWNER))


_HAND_OVER_SCHEMA = f"""
DO $$
DECLARE
    object record;
BEGIN
    FOR object IN
        SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                    ELSE 'TABLE' END AS kind, c.oid::regclass::text AS name
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S', 'v')
          AND pg_get_userbyid(c.relowner) <> '{OWNER}'
          AND NOT (c.relkind = 'S' AND EXISTS (
              SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO {OWNER}', object.kind, object.name);
    END LOOP;
    FOR object IN
        SELECT p.oid::regprocedure::text AS name FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> '{OWNER}'
    LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO {OWNER}', object.name);
    END LOOP;
END $$;
"""


async def restricted_database(admin_dsn: str, name: str) -> ServiceDsns:
    """``name`` dropped and made anew, owned by the migration owner; its two DSNs."""
    await recreate_database(admin_dsn, name)
    return await hand_to_owner(admin_dsn, name)
