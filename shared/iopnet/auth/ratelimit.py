"""Per-key rate limits, shared by every replica of a service's API.

A key allowed ``per_minute`` requests may spend a minute's worth at once and then one
every ``60 / per_minute`` seconds (a token bucket of a minute's capacity). The state is
one row per key in the service's database holding when the key's next request is due
on average (the generic cell rate algorithm); one statement checks and takes, so two
replicas never both spend the last request.
"""

from __future__ import annotations

import math
from datetime import timedelta

from iopnet.db import Connection

WINDOW = timedelta(minutes=1)

# ``excluded.due_at - $2`` is this statement's one reading of the clock.
_TAKE = (
    "INSERT INTO rate_limits AS r (key_id, due_at)"
    " VALUES ($1, clock_timestamp() + $2::interval)"
    " ON CONFLICT (key_id) DO UPDATE"
    " SET due_at = greatest(r.due_at, excluded.due_at - $2::interval) + $2::interval"
    " WHERE greatest(r.due_at, excluded.due_at - $2::interval) + $2::interval"
    "       <= excluded.due_at - $2::interval + $3::interval"
    " RETURNING true"
)
_WAIT = (
    "SELECT extract(epoch FROM (due_at + $2::interval - $3::interval) - clock_timestamp())"
    "::float8 FROM rate_limits WHERE key_id = $1"
)


async def retry_after(conn: Connection, key_id: str, per_minute: int) -> int:
    """Take one request for the key: 0 when allowed, else the whole seconds to wait."""
    interval = WINDOW / per_minute
    if await conn.fetchval(_TAKE, key_id, interval, WINDOW):
        return 0
    waiting = await conn.fetchval(_WAIT, key_id, interval, WINDOW)
    return max(1, math.ceil(waiting or 0))
