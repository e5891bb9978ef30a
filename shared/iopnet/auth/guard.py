"""Request authentication and authorization, as FastAPI dependencies.

Every route but health and the OpenAPI document declares ``require(scope)`` or
``site_database(scope)``: no key or a bad one → 401, a missing scope → 403, too many
requests → 429. Database work then goes through ``SiteDatabase``, whose transactions
run as the ``iopnet_api`` role with the caller's site set, so row-level security
hides every other site's rows even from a query that forgets to filter.

Each is one flat dependency reading the key's headers itself: FastAPI solves every
sub-dependency of every request anew (security schemes, the store, the cause), about
a fifth of a write's CPU. The two ways of sending a key are documented for OpenAPI
by ``document_security`` instead.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import FastAPI, Header, Request

from iopnet.auth import keys, ratelimit, registry
from iopnet.auth.principal import ALL_SITES, Principal
from iopnet.catalog import Scope
from iopnet.db import Connection
from iopnet.envelope import new_id
from iopnet.eventstore import Cause, EventStore
from iopnet.problems import Problem

API_ROLE = "iopnet_api"
OPERATOR_KEY_ENV = "IOPNET_OPERATOR_KEY"
#: SHA-256 digests of the operator's keys, comma-separated: the API needs no plaintext,
#: and two digests at once let a key be rotated with overlap.
OPERATOR_DIGESTS_ENV = "IOPNET_OPERATOR_KEY_SHA256"
OPERATOR_RATE_LIMIT = 6000

CORRELATION_HEADER = "X-Correlation-Id"
CorrelationId = Annotated[str | None, Header(alias=CORRELATION_HEADER, max_length=128)]
KEY_HEADER = "X-API-Key"

#: How a key is sent, as OpenAPI says it (what FastAPI's HTTPBearer and APIKeyHeader say).
SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "HTTPBearer": {"type": "http", "scheme": "bearer", "description": "An iopnet API key"},
    "APIKeyHeader": {"type": "apiKey", "in": "header", "name": KEY_HEADER},
}


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "unauthorized", "A valid API key is required", detail,
                   headers={"WWW-Authenticate": 'Bearer realm="iopnet"'})


def operator_digests() -> tuple[str, ...]:
    """The digests of the operator keys this process accepts: those configured, and the
    digest of the plaintext key the local runner and tests hand over."""
    return _operator_digests(os.environ.get(OPERATOR_DIGESTS_ENV, ""),
                             os.environ.get(OPERATOR_KEY_ENV))


@functools.lru_cache(maxsize=4)
def _operator_digests(configured: str, plaintext: str | None) -> tuple[str, ...]:
    # Per request otherwise: the environment's value split and the plaintext hashed.
    digests = [d.strip().lower() for d in configured.split(",") if d.strip()]
    if plaintext:
        digests.append(keys.digest(plaintext))
    return tuple(digests)


def operator_principal(presented: str) -> Principal | None:
    """The network operator, when the key is one of the operator's keys."""
    parsed = keys.parse(presented)
    if parsed is None:
        return None
    presented_digest = keys.digest(presented)
    # Compare with every digest, matched or not: the time taken says nothing.
    matches = [hmac.compare_digest(presented_digest, d) for d in operator_digests()]
    if not any(matches):
        return None
    return Principal(parsed.key_id, ALL_SITES, frozenset({Scope.OPERATOR}), OPERATOR_RATE_LIMIT)


def presented_key(request: Request) -> str | None:
    """``Authorization: Bearer <key>``, else ``X-API-Key``, read as HTTPBearer and
    APIKeyHeader (auto_error off) read them."""
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        credentials = credentials.strip()
        if credentials and scheme.lower() == "bearer":
            return credentials
    return request.headers.get(KEY_HEADER) or None


async def authenticate(request: Request) -> Principal:
    presented = presented_key(request)
    if not presented:
        raise _unauthorized("send the key as 'Authorization: Bearer <key>' or 'X-API-Key'")
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as conn:
        principal = operator_principal(presented)
        if principal is not None:
            wait = await ratelimit.retry_after(conn, principal.key_id,
                                               principal.rate_limit_per_minute)
        else:
            principal, wait = await _issued_principal(conn, presented)
        if principal is None:
            raise _unauthorized("the key is unknown, revoked or expired")
    request.state.principal = principal
    if wait:
        raise Problem(429, "rate-limited", "Too many requests for this key",
                      f"retry in {wait} s", headers={"Retry-After": str(wait)})
    return principal


async def _issued_principal(conn: Connection, presented: str) -> tuple[Principal | None, int]:
    """A site's key and the seconds it must wait (0: a request was taken from its budget).

    The record and the rate limit are one statement; only a refused request (or a key
    Postgres and this process disagree about, expiring this instant) needs a second.
    """
    parsed = keys.parse(presented)
    if parsed is None:
        return None, 0
    record, taken = await ratelimit.record_and_take(conn, parsed.key_id,
                                                    keys.digest(parsed.secret))
    if record is None or not registry.usable(record, datetime.now(UTC)):
        return None, 0
    if not keys.secret_matches(parsed.secret, str(record["secret_sha256"])):
        return None, 0
    scopes = record["scopes"]
    assert isinstance(scopes, list)
    if Scope.OPERATOR.value in scopes:
        return None, 0  # a site's key is never the operator's, whatever the registry holds
    principal = Principal(parsed.key_id, str(record["site_id"]),
                          frozenset(Scope(s) for s in scopes),
                          int(str(record["rate_limit_per_minute"])))
    if taken:
        return principal, 0
    return principal, await ratelimit.retry_after(conn, principal.key_id,
                                                  principal.rate_limit_per_minute)


def require(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, authenticated and holding ``scope``."""

    async def authorized(request: Request) -> Principal:
        principal = await authenticate(request)
        _check_scope(principal, scope)
        return principal

    return authorized


def _check_scope(principal: Principal, scope: Scope) -> None:
    if not principal.may(scope):
        raise Problem(403, "forbidden", "The key lacks a scope this needs",
                      f"needs the '{scope.value}' scope")


class SiteDatabase:
    """The service's database as one caller may see it: only that caller's site."""

    def __init__(self, pool: asyncpg.Pool, principal: Principal, *,
                 events: EventStore | None = None, cause: Cause | None = None) -> None:
        self.pool = pool
        self.principal = principal
        self._events = events
        #: What this caller's commands record is caused by (a request's own id).
        self.cause = cause or new_cause(None)
        #: Simple-query statements sent with the next COMMIT, in its round trip.
        self.with_commit: list[str] = []

    @property
    def events(self) -> EventStore:
        """The service's event store (a request's database knows it)."""
        if self._events is None:
            raise RuntimeError("this SiteDatabase was made without the service's event store")
        return self._events

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A transaction as the caller: ``BEGIN`` with the role and site in one round trip.

        Begun by hand (a simple query of two statements), so ``conn.transaction()``
        cannot be used inside it: asyncpg refuses a savepoint in a transaction it
        did not begin.
        """
        async with self.pool.acquire() as conn:
            try:
                await conn.execute(_begin_as(self.principal.data_site))
                yield conn
            except BaseException:
                # The error says more than a failed ROLLBACK would; the pool's release
                # rolls back whatever is still open.
                self.with_commit.clear()
                with contextlib.suppress(Exception):
                    await conn.execute("ROLLBACK")
                raise
            await self._commit(conn)

    async def _commit(self, conn: Connection) -> None:
        statements, self.with_commit = [*self.with_commit, "COMMIT"], []
        try:
            await conn.execute("; ".join(statements))
        except BaseException:
            # A statement before COMMIT failed: the rest of the query was skipped.
            with contextlib.suppress(Exception):
                await conn.execute("ROLLBACK")
            raise


def _begin_as(site_id: str) -> str:
    # set_config('role', ..., true) is SET LOCAL ROLE.
    return (f"BEGIN; SELECT set_config('role', {sql_literal(API_ROLE)}, true),"
            f" set_config('iopnet.site_id', {sql_literal(site_id)}, true)")


def sql_literal(text: str) -> str:
    """``text`` as an SQL string literal, for a simple query (which takes no parameters).

    An escape string literal (``E'...'``) reads alike whatever
    ``standard_conforming_strings`` says; text never holds NUL in Postgres.
    """
    if "\x00" in text:
        raise ValueError("an SQL literal cannot hold NUL")
    return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def site_database(scope: Scope) -> Callable[..., Awaitable[SiteDatabase]]:
    """A dependency: the database confined to the caller's site, once ``scope`` is checked,
    with the service's event store and the request's cause."""

    async def confined(request: Request, correlation_id: CorrelationId = None) -> SiteDatabase:
        principal = await authenticate(request)
        _check_scope(principal, scope)
        app_state = request.app.state
        return SiteDatabase(app_state.pool, principal, events=app_state.events,
                            cause=new_cause(correlation_id))

    return confined


def new_cause(correlation_id: str | None) -> Cause:
    """The cause of what a request records: its own id, correlated with the caller's."""
    request_id = new_id()
    return Cause(correlation_id=correlation_id or request_id, causation_id=request_id)


def document_security(app: FastAPI) -> None:
    """Say in the app's OpenAPI document how to send a key, on every operation: each one
    it documents needs one (tests/e2e/test_security.py calls them all without)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        document.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        for operations in document["paths"].values():
            for operation in operations.values():
                operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
        return document

    app.openapi = openapi  # type: ignore[method-assign]
