"""Idempotent commands: a retry with the same Idempotency-Key replays the first answer.

The key is claimed with a transaction-scoped advisory lock, so two copies of
a request racing each other run one after the other: the second finds the
stored answer instead of executing again. A key reused for a different
request is refused (422) rather than silently answered with the wrong thing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from iopnet.db import Connection
from iopnet.problems import Problem

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def fingerprint(method: str, path: str, payload: Any) -> str:
    canonical = json.dumps([method, path, payload], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def run_once(
    pool: asyncpg.Pool,
    key: str | None,
    request_fingerprint: str,
    command: Callable[[Connection], Awaitable[Answer]],
) -> Answer:
    """Run ``command`` in one transaction, at most once per idempotency key."""
    if key is not None and not 0 < len(key) <= MAX_KEY_LENGTH:
        raise Problem(422, "validation", "Invalid Idempotency-Key",
                      f"1 to {MAX_KEY_LENGTH} characters", errors=[{"pointer": "header:" + HEADER}])
    async with pool.acquire() as conn, conn.transaction():
        if key is not None:
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
            stored = await conn.fetchrow(
                "SELECT fingerprint, status, body FROM idempotency_keys WHERE key = $1", key
            )
            if stored is not None:
                return _replay(stored, request_fingerprint)
        answer = await command(conn)
        if key is not None:
            await conn.execute(
                "INSERT INTO idempotency_keys (key, fingerprint, status, body)"
                " VALUES ($1, $2, $3, $4)",
                key, request_fingerprint, answer.status, answer.body,
            )
        return answer


def _replay(stored: asyncpg.Record, request_fingerprint: str) -> Answer:
    if stored["fingerprint"] != request_fingerprint:
        raise Problem(422, "idempotency-key-reused", "Idempotency-Key already used",
                      "this key was sent with a different request",
                      errors=[{"pointer": "header:" + HEADER}])
    return Answer(stored["status"], stored["body"])
