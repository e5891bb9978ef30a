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


# A site's key: its record and, when it is live and the secret's digest matches, one
# request taken from its budget, in one round trip (the same cell rate algorithm as
# _TAKE, the step from the key's own limit). The caller still checks the record
# itself, comparing the digest in constant time; the equality here only keeps a wrong
# secret from spending the key's budget, and says nothing about a digest's prefix.
_RECORD_AND_TAKE = (
    "WITH k AS (SELECT key_id, site_id, secret_sha256, scopes, expires_at,"
    "  rate_limit_per_minute, revoked_at FROM api_keys WHERE key_id = $1),"
    " spend AS (SELECT key_id, interval '1 minute' / rate_limit_per_minute AS step FROM k"
    "  WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())"
    "  AND secret_sha256 = $2),"
    " taken AS (INSERT INTO rate_limits AS r (key_id, due_at)"
    "  SELECT key_id, clock_timestamp() + step FROM spend ON CONFLICT (key_id) DO UPDATE"
    "  SET due_at = greatest(r.due_at, excluded.due_at - (SELECT step FROM spend))"
    "   + (SELECT step FROM spend)"
    "  WHERE greatest(r.due_at, excluded.due_at - (SELECT step FROM spend))"
    "   + (SELECT step FROM spend) <= excluded.due_at - (SELECT step FROM spend) + $3::interval"
    "  RETURNING true AS ok)"
    " SELECT k.*, coalesce((SELECT ok FROM taken), false) AS taken FROM k"
)


async def record_and_take(conn: Connection, key_id: str, secret_sha256: str
                          ) -> tuple[dict[str, object] | None, bool]:
    """The key's record, and whether a request was taken from its budget with it."""
    row = await conn.fetchrow(_RECORD_AND_TAKE, key_id, secret_sha256, WINDOW)
    if row is None:
        return None, False
    record = dict(row)
    return record, bool(record.pop("taken"))


async def retry_after(conn: Connection, key_id: str, per_minute: int) -> int:
    """Take one request for the key: 0 when allowed, else the whole seconds to wait."""
    interval = WINDOW / per_minute
    if await conn.fetchval(_TAKE, key_id, interval, WINDOW):
        return 0
    waiting = await conn.fetchval(_WAIT, key_id, interval, WINDOW)
    return max(1, math.ceil(waiting or 0))
