"""Commands over HTTP: run once per Idempotency-Key, in one site-confined transaction.

The key is claimed with a transaction-scoped advisory lock, so two copies of
a request racing each other run one after the other: the second finds the
stored answer instead of executing again. A key reused for a different
request is refused (422) rather than answered with the wrong thing. Keys are
scoped to the caller's site, so two sites cannot collide.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from iopnet.auth.guard import SiteDatabase
from iopnet.db import Connection
from iopnet.problems import Problem

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
IdempotencyKey = Annotated[str | None, Header(alias=HEADER, max_length=MAX_KEY_LENGTH)]


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


Command = Callable[[Connection], Awaitable[Answer]]


def fingerprint(method: str, path: str, payload: Any) -> str:
    canonical = json.dumps([method, path, payload], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def run_once(db: SiteDatabase, key: str | None, request_fingerprint: str,
                   command: Command) -> Answer:
    """Run ``command`` in one transaction, at most once per idempotency key."""
    scoped_key = f"{db.principal.site_id}:{key}" if key is not None else None
    async with db.transaction() as conn:
        if scoped_key is not None:
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                               scoped_key)
            stored = await conn.fetchrow(
                "SELECT fingerprint, status, body, headers FROM idempotency_keys WHERE key = $1",
                scoped_key,
            )
            if stored is not None:
                return _replay(stored["fingerprint"], request_fingerprint,
                               Answer(stored["status"], stored["body"], stored["headers"]))
        answer = await command(conn)
        if scoped_key is not None:
            await conn.execute(
                "INSERT INTO idempotency_keys (key, fingerprint, status, body, headers)"
                " VALUES ($1, $2, $3, $4, $5)",
                scoped_key, request_fingerprint, answer.status, answer.body, answer.headers,
            )
        return answer


async def execute(
    request: Request, db: SiteDatabase, key: str | None, payload: BaseModel | None,
    command: Command, *, refusals: tuple[type[Exception], ...] = (),
) -> JSONResponse:
    """Run a command for a route; a broken domain rule (``refusals``) answers 409."""
    body = payload.model_dump(mode="json") if payload is not None else None
    request_print = fingerprint(request.method, request.url.path, body)
    try:
        answer = await run_once(db, key, request_print, command)
    except refusals as broken:
        raise Problem(409, "rule", "Not allowed in the current state", str(broken)) from broken
    return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)


def _replay(stored_fingerprint: str, request_fingerprint: str, answer: Answer) -> Answer:
    if stored_fingerprint != request_fingerprint:
        raise Problem(422, "idempotency-key-reused", "Idempotency-Key already used",
                      "this key was sent with a different request",
                      errors=[{"pointer": "header:" + HEADER}])
    return answer
