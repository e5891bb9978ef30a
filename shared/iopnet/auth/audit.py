"""The audit trail: every request for patient data, who made it, and how it ended.

A middleware writes one append-only row per ``/v1`` request after the answer
is known, refusals of identified callers included (403, 404, 429), so probing
is visible too. Rows name the key and the resource, never the patient's
identifying data. A request refused before anyone was identified (401) is
counted per source address, route and minute instead (``refused_requests``):
anyone on the network can send those, and the trail is append-only.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BaseModel

from iopnet.auth.guard import require
from iopnet.auth.principal import Principal
from iopnet.catalog import Scope
from iopnet.observer import Exchange, ResponseObserver

log = logging.getLogger(__name__)
AUDITED_PREFIX = "/v1/"
#: A site's id, or the operator's ``*`` (ALL_SITES).
AUDITED_SITE = r"^(\*|[A-Za-z0-9._:-]+)$"


def install_audit(app: FastAPI) -> None:
    app.add_middleware(ResponseObserver, observe=record)
    app.include_router(router)


async def record(exchange: Exchange) -> None:
    """One append-only row per /v1 request, whatever its outcome."""
    if not exchange.path.startswith(AUDITED_PREFIX):
        return
    principal: Principal | None = exchange.state.get("principal")
    action = f"{exchange.method} {exchange.route}"
    pool: asyncpg.Pool = exchange.scope["app"].state.pool
    if principal is None and exchange.status == 401:
        await _count_refusal(pool, exchange, action)
        return
    try:
        await pool.execute(
            "INSERT INTO audit_log (key_id, site_id, action, resource, outcome, correlation)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            principal.key_id if principal else None,
            principal.site_id if principal else None,
            action, _resource(exchange.path), exchange.status,
            (exchange.header(b"x-correlation-id") or "")[:128] or None,
        )
    except (OSError, asyncpg.PostgresError):
        log.exception("could not write the audit row for %s", action)


async def _count_refusal(pool: asyncpg.Pool, exchange: Exchange, action: str) -> None:
    client = exchange.scope.get("client")
    source = str(client[0]) if client else "unknown"
    try:
        await pool.execute(
            "INSERT INTO refused_requests (minute, source, action, count)"
            " VALUES (date_trunc('minute', now()), $1, $2, 1) ON CONFLICT (minute, source,"
            " action) DO UPDATE SET count = refused_requests.count + 1", source, action)
    except (OSError, asyncpg.PostgresError):
        log.exception("could not count the refusal of %s", action)


def _resource(path: str) -> str:
    """The path as recorded; a NUL in it, which Postgres text cannot hold, as ``%00``."""
    return path.replace("\x00", "%00")[:500]


router = APIRouter(prefix="/v1/audit", tags=["audit"])


class AuditEntry(BaseModel):
    id: int
    at: datetime
    key_id: str | None
    site_id: str | None
    action: str
    resource: str
    outcome: int


@router.get("", response_model=list[AuditEntry])
async def read_audit_trail(
    request: Request,
    _: Annotated[Principal, Depends(require(Scope.OPERATOR))],
    site_id: Annotated[str | None, Query(max_length=64, pattern=AUDITED_SITE)] = None,
    key_id: Annotated[str | None, Query(pattern=r"^[0-9a-f]{12}$")] = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """The operator's view of who read or changed what, newest first."""
    pool: asyncpg.Pool = request.app.state.pool
    rows = await pool.fetch(
        "SELECT id, at, key_id, site_id, action, resource, outcome FROM audit_log"
        " WHERE ($1::text IS NULL OR site_id = $1) AND ($2::text IS NULL OR key_id = $2)"
        " AND ($3::timestamptz IS NULL OR at >= $3) ORDER BY id DESC LIMIT $4",
        site_id, key_id, since, limit,
    )
    return [dict(row) for row in rows]


class RefusalCount(BaseModel):
    minute: datetime
    source: str
    action: str
    count: int


@router.get("/refusals", response_model=list[RefusalCount])
async def read_refusals(
    request: Request,
    _: Annotated[Principal, Depends(require(Scope.OPERATOR))],
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Unauthenticated requests refused, counted per source address, route and minute."""
    pool: asyncpg.Pool = request.app.state.pool
    rows = await pool.fetch(
        "SELECT minute, source, action, count FROM refused_requests"
        " WHERE $1::timestamptz IS NULL OR minute >= $1 ORDER BY minute DESC, count DESC"
        " LIMIT $2", since, limit)
    return [dict(row) for row in rows]
