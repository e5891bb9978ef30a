"""The audit trail: every request for patient data, who made it, and how it ended.

A middleware writes one append-only row per ``/v1`` (and ``/fhir``) request after the answer
is known, refusals of identified callers included (403, 404, 429), so probing
is visible too. Rows name the key and the resource, never the patient's
identifying data. Rows of requests finishing together are written by one
statement (a group commit): each request still waits until its own row is
committed, so none is lost that one statement a request would have kept.
A request refused before anyone was identified (401) is counted per source
address, route and minute instead (``refused_requests``): anyone on the
network can send those, and the trail is append-only.

A command's row rides in its own transaction instead (``with_commit``): inserted
by the ``COMMIT``'s round trip, committed with what the command recorded or not
at all, and the middleware then writes none.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BaseModel

from iopnet.auth.guard import SiteDatabase, require, sql_literal
from iopnet.auth.principal import Principal
from iopnet.catalog import Scope
from iopnet.observer import Exchange, ResponseObserver

log = logging.getLogger(__name__)
#: The REST API and the FHIR reads; not the CapabilityStatement, open and without data.
AUDITED_PREFIXES = ("/v1/", "/fhir/")
UNAUDITED_PATHS = frozenset({"/fhir/R4/metadata"})
#: A site's id, or the operator's ``*`` (ALL_SITES).
AUDITED_SITE = r"^(\*|[A-Za-z0-9._:-]+)$"


#: One row: key_id, site_id, action, resource, outcome, correlation.
Row = tuple[str | None, str | None, str, str, int, str | None]
_COLUMNS = "key_id, site_id, action, resource, outcome, correlation"
#: Set in a request's state once its row was committed with its command.
_COMMITTED = "audit_committed"
_INSERT_MANY = (
    f"INSERT INTO audit_log ({_COLUMNS})"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[],"
    " $6::text[])"
)


def install_audit(app: FastAPI) -> None:
    app.add_middleware(ResponseObserver, observe=record)
    app.include_router(router)


class AuditTrail:
    """Writes rows in batches: the rows that arrive while one batch is being inserted
    go in the next, one statement each, so a request costs a fraction of a round trip."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._waiting: list[tuple[Row, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, row: Row) -> None:
        """Return once the row is committed (or its failure logged, as before)."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((row, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        # Shielded: a cancelled request does not take its row back; the writer keeps it.
        await asyncio.shield(done)

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            await self._insert([row for row, _ in batch])
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def _insert(self, rows: list[Row]) -> None:
        try:
            await self.pool.execute(_INSERT_MANY, *map(list, zip(*rows, strict=True)))
        except (OSError, asyncpg.PostgresError):
            if len(rows) == 1:
                log.exception("could not write the audit row for %s", rows[0][2])
                return
            # One bad row must not take the others with it: each on its own.
            for row in rows:
                await self._insert([row])


async def record(exchange: Exchange) -> None:
    """One append-only row per /v1 or /fhir request, whatever its outcome."""
    if not audited(exchange) or exchange.state.get(_COMMITTED):
        return
    principal: Principal | None = exchange.state.get("principal")
    pool: asyncpg.Pool = exchange.scope["app"].state.pool
    if principal is None and exchange.status == 401:
        await _count_refusal(pool, exchange, f"{exchange.method} {exchange.route}")
        return
    await trail_of(exchange.scope["app"]).write(_row(exchange))


def audited(exchange: Exchange) -> bool:
    return exchange.path.startswith(AUDITED_PREFIXES) and exchange.path not in UNAUDITED_PATHS


def _row(exchange: Exchange) -> Row:
    principal: Principal | None = exchange.state.get("principal")
    return (
        principal.key_id if principal else None, principal.site_id if principal else None,
        f"{exchange.method} {exchange.route}", _resource(exchange.path), exchange.status,
        (exchange.header(b"x-correlation-id") or "")[:128] or None,
    )


def with_commit(request: Request, db: SiteDatabase, status: int) -> bool:
    """Have the request's row, answered ``status``, inserted by ``db``'s next COMMIT;
    False when the request is not audited."""
    exchange = Exchange(request.scope, status, 0.0)
    if not audited(exchange):
        return False
    values = ", ".join("NULL" if value is None else str(value) if isinstance(value, int)
                       else sql_literal(value.replace("\x00", "%00"))
                       for value in _row(exchange))
    db.with_commit.append(f"INSERT INTO audit_log ({_COLUMNS}) VALUES ({values})")
    return True


def committed(request: Request) -> None:
    """The request's row was committed with its command: the middleware writes none."""
    setattr(request.state, _COMMITTED, True)


def trail_of(app: FastAPI) -> AuditTrail:
    """The app's trail, on the app's pool (tests may hand an app its pool directly)."""
    trail: AuditTrail | None = getattr(app.state, "audit", None)
    if trail is None or trail.pool is not app.state.pool:
        trail = app.state.audit = AuditTrail(app.state.pool)
    return trail


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
