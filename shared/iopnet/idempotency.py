"""Commands over HTTP: run once per Idempotency-Key, in one site-confined transaction.

The key is claimed with a transaction-scoped advisory lock, so two copies of
a request racing each other run one after the other: the second finds the
stored answer instead of executing again. A key reused for a different
request is refused (422) rather than answered with the wrong thing. Keys are
scoped to the caller's site, so two sites cannot collide: the stored key is a
digest of the pair (site, key), never a string two pairs could share.

An answer is replayed for ``RETENTION`` (72 hours); after that the key is
free again. Answers can carry names and contact details, so each row keeps
the patient it is about, and forgetting the patient deletes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from iopnet.auth import audit
from iopnet.auth.guard import SiteDatabase
from iopnet.db import Connection
from iopnet.problems import Problem
from iopnet.responses import OrjsonResponse

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
IdempotencyKey = Annotated[str | None, Header(alias=HEADER, max_length=MAX_KEY_LENGTH)]
RETENTION = timedelta(hours=72)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


Command = Callable[[Connection], Awaitable[Answer]]


def fingerprint(method: str, path: str, payload: Any) -> str:
    canonical = json.dumps([method, path, payload], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def scoped(site_id: str, key: str) -> str:
    """The stored key: one site's key can never be another site's."""
    return hashlib.sha256(json.dumps([site_id, key]).encode()).hexdigest()


async def run_once(db: SiteDatabase, key: str | None, request_fingerprint: str,
                   command: Command, *, patient_id: str | None = None) -> Answer:
    """Run ``command`` in one transaction, at most once per idempotency key."""
    scoped_key = scoped(db.principal.site_id, key) if key is not None else None
    async with db.transaction() as conn:
        if scoped_key is not None:
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                               scoped_key)
            stored = await conn.fetchrow(
                "SELECT fingerprint, status, body, headers FROM idempotency_keys"
                " WHERE key = $1 AND created_at > now() - $2::interval", scoped_key, RETENTION,
            )
            if stored is not None:
                return _replay(stored["fingerprint"], request_fingerprint,
                               Answer(stored["status"], stored["body"], stored["headers"]))
        answer = await command(conn)
        if scoped_key is not None:
            await conn.execute(
                "INSERT INTO idempotency_keys (key, fingerprint, status, body, headers,"
                " patient_id) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO UPDATE"
                " SET fingerprint = $2, status = $3, body = $4, headers = $5, patient_id = $6,"
                " created_at = now()",
                scoped_key, request_fingerprint, answer.status, answer.body, answer.headers,
                patient_id or _patient_in(answer.body),
            )
        return answer


def _patient_in(body: Any) -> str | None:
    patient_id = body.get("patient_id") if isinstance(body, dict) else None
    return str(patient_id) if patient_id else None


async def purge_expired(conn: Connection) -> int:
    """Delete the answers no retry may replay any more; how many."""
    status = await conn.execute(
        "DELETE FROM idempotency_keys WHERE created_at <= now() - $1::interval", RETENTION)
    return int(status.split()[-1])


async def execute(
    request: Request, db: SiteDatabase, key: str | None, payload: BaseModel | None,
    command: Command, *, refusals: tuple[type[Exception], ...] = (),
) -> JSONResponse:
    """Run a command for a route; a broken domain rule (``refusals``) answers 409.

    The request's audit row is inserted by the command's own COMMIT (none is written
    for an answer replayed, or a command that fails: the middleware writes those).
    """
    # Only a request that can be replayed needs its fingerprint (a canonical JSON dump).
    request_print = "" if key is None else fingerprint(
        request.method, request.url.path,
        payload.model_dump(mode="json") if payload is not None else None)
    audit_rides = False

    async def audited(conn: Connection) -> Answer:
        nonlocal audit_rides
        answer = await command(conn)
        audit_rides = audit.with_commit(request, db, answer.status)
        return answer

    try:
        answer = await run_once(db, key, request_print, audited,
                                patient_id=request.path_params.get("patient_id"))
    except refusals as broken:
        raise Problem(409, "rule", "Not allowed in the current state", str(broken)) from broken
    if audit_rides:
        audit.committed(request)
    return OrjsonResponse(answer.body, status_code=answer.status, headers=answer.headers)


def _replay(stored_fingerprint: str, request_fingerprint: str, answer: Answer) -> Answer:
    if stored_fingerprint != request_fingerprint:
        raise Problem(422, "idempotency-key-reused", "Idempotency-Key already used",
                      "this key was sent with a different request",
                      errors=[{"pointer": "header:" + HEADER}])
    return answer
