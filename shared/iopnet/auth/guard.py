"""Request authentication and authorization, as FastAPI dependencies.

Every route but health and the OpenAPI document declares ``require(scope)``:
no key or a bad one → 401, a missing scope → 403, too many requests → 429.
Database work then goes through ``SiteDatabase``, whose transactions run as
the ``iopnet_api`` role with the caller's site set, so row-level security
hides every other site's rows even from a query that forgets to filter.
"""

from __future__ import annotations

import contextlib
import hmac
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from iopnet.auth import keys, ratelimit, registry
from iopnet.auth.principal import ALL_SITES, Principal
from iopnet.catalog import Scope
from iopnet.db import Connection
from iopnet.problems import Problem

API_ROLE = "iopnet_api"
OPERATOR_KEY_ENV = "IOPNET_OPERATOR_KEY"
#: SHA-256 digests of the operator's keys, comma-separated: the API needs no plaintext,
#: and two digests at once let a key be rotated with overlap.
OPERATOR_DIGESTS_ENV = "IOPNET_OPERATOR_KEY_SHA256"
OPERATOR_RATE_LIMIT = 6000

_bearer = HTTPBearer(auto_error=False, description="An iopnet API key")
_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "unauthorized", "A valid API key is required", detail,
                   headers={"WWW-Authenticate": 'Bearer realm="iopnet"'})


def operator_digests() -> list[str]:
    """The digests of the operator keys this process accepts: those configured, and the
    digest of the plaintext key the local runner and tests hand over."""
    digests = [d.strip().lower() for d in os.environ.get(OPERATOR_DIGESTS_ENV, "").split(",")
               if d.strip()]
    if plaintext := os.environ.get(OPERATOR_KEY_ENV):
        digests.append(keys.digest(plaintext))
    return digests


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


async def authenticate(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header)],
) -> Principal:
    presented = bearer.credentials if bearer else header_key
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

    async def authorized(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        _check_scope(principal, scope)
        return principal

    return authorized


def _check_scope(principal: Principal, scope: Scope) -> None:
    if not principal.may(scope):
        raise Problem(403, "forbidden", "The key lacks a scope this needs",
                      f"needs the '{scope.value}' scope")


class SiteDatabase:
    """The service's database as one caller may see it: only that caller's site."""

    def __init__(self, pool: asyncpg.Pool, principal: Principal) -> None:
        self.pool = pool
        self.principal = principal

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
                with contextlib.suppress(Exception):
                    await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")


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
    """A dependency: the database confined to the caller's site, once ``scope`` is checked."""

    # The scope is checked here rather than through ``require``: one dependency fewer
    # for FastAPI to solve on every request.
    async def confined(request: Request, principal: Annotated[Principal, Depends(authenticate)]
                       ) -> SiteDatabase:
        _check_scope(principal, scope)
        return SiteDatabase(request.app.state.pool, principal)

    return confined
