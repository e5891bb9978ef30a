"""Schema migrations: numbered SQL files, applied once each, in order.

The shared event-store schema comes first, then the service's own files,
then the service's data upgrades: Python steps that turn rows written by an
earlier release into events (they need the event store's code, to seal
personal data). Each runs once, in its own transaction, and is recorded in
``schema_migrations`` as ``upgrade/<name>``. An advisory lock lets several
replicas start at once without racing. Last, every run applies the runtime
roles' privileges (``privileges.sql``) to whatever the migrations made: run it
as the schema's owner, never as the services' login.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from iopnet.db import connect

SHARED_MIGRATIONS = Path(__file__).parent / "migrations"
#: The runtime roles' privileges, applied after every migration run (see the file).
PRIVILEGES = Path(__file__).parent / "privileges.sql"
_LOCK_KEY = 0x10_9E7  # any constant; one migrator per database at a time


@dataclass(frozen=True)
class DataUpgrade:
    """Rows of an earlier release, recorded as events; a no-op on a new database."""

    name: str
    run: Callable[[asyncpg.Connection], Awaitable[None]]


def pending(directories: Sequence[Path], applied: set[str]) -> list[tuple[str, Path]]:
    scripts = [
        (f"{directory.parent.name}/{path.name}", path)
        for directory in directories
        for path in sorted(directory.glob("*.sql"))
    ]
    return [(name, path) for name, path in scripts if name not in applied]


async def apply_migrations(dsn: str, directories: Sequence[Path],
                           upgrades: Sequence[DataUpgrade] = ()) -> list[str]:
    """Apply what has not been applied yet; returns the names applied now."""
    conn = await connect(dsn)  # with the JSON codecs: data upgrades append events
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {row["name"] for row in await conn.fetch("SELECT name FROM schema_migrations")}
        done = []
        for name, path in pending([SHARED_MIGRATIONS, *directories], applied):
            async with conn.transaction():
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
            done.append(name)
        for upgrade in upgrades:
            name = f"upgrade/{upgrade.name}"
            if name in applied:
                continue
            async with conn.transaction():
                await upgrade.run(conn)
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
            done.append(name)
        async with conn.transaction():
            await conn.execute(PRIVILEGES.read_text())
        return done
    finally:
        await conn.close()
