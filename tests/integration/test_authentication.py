"""Who the guard lets in: a key's secret must match, a site's key is never the operator's,
and the operator's key can be rotated with overlap."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from iopnet.auth import keys
from iopnet.auth.guard import (
    OPERATOR_DIGESTS_ENV,
    OPERATOR_KEY_ENV,
    _issued_principal,
    operator_principal,
)
from iopnet.auth.registry import on_api_key_issued
from iopnet.catalog import ApiKeyIssued, Scope
from iopnet.db import create_pool
from iopnet.eventstore import Cause, EventStore
from iopnet.provenance import UntrustedRecord
from tests.conftest import FreshDatabase

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(fresh_database: FreshDatabase) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(await fresh_database("auth"))
    yield pool
    await pool.close()


async def issued(pool: asyncpg.Pool, scopes: list[Scope]) -> keys.NewKey:
    key = keys.new_key()
    await pool.execute(
        "INSERT INTO api_keys (key_id, site_id, secret_sha256, scopes, rate_limit_per_minute,"
        " issued_at) VALUES ($1, 'site-a', $2, $3, 600, now())",
        key.key_id, key.secret_sha256, [s.value for s in scopes])
    return key


async def principal_for(pool: asyncpg.Pool, presented: str) -> object:
    async with pool.acquire() as conn:
        principal, _ = await _issued_principal(conn, presented)
        return principal


async def test_a_known_key_id_with_another_secret_is_refused(pool: asyncpg.Pool) -> None:
    key = await issued(pool, [Scope.READ])
    assert await principal_for(pool, key.plaintext) is not None
    forged = f"{keys.PREFIX}{key.key_id}.{keys.new_key().plaintext.split('.')[1]}"
    assert await principal_for(pool, forged) is None


async def test_a_site_key_with_the_operator_scope_is_refused(pool: asyncpg.Pool) -> None:
    key = await issued(pool, [Scope.READ, Scope.OPERATOR])
    assert await principal_for(pool, key.plaintext) is None


async def test_an_issued_event_carrying_the_operator_scope_is_never_registered(
    pool: asyncpg.Pool,
) -> None:
    """Intake never issues one; a forged or corrupted event must not make one either."""
    key = keys.new_key()
    issued = ApiKeyIssued(site_id="site-a", key_id=key.key_id, secret_sha256=key.secret_sha256,
                          scopes=[Scope.READ, Scope.OPERATOR])
    envelope = EventStore.of("intake").envelopes(f"key-{key.key_id}", 0, [issued],
                                                 Cause("c", "c"))[0]
    async with pool.acquire() as conn:
        with pytest.raises(UntrustedRecord, match="operator"):
            await on_api_key_issued(conn, issued, envelope)
    assert await pool.fetchval("SELECT count(*) FROM api_keys") == 0
    assert await principal_for(pool, key.plaintext) is None


def test_both_operator_keys_work_while_one_replaces_the_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old, new, stranger = keys.new_key(), keys.new_key(), keys.new_key()
    monkeypatch.delenv(OPERATOR_KEY_ENV, raising=False)
    monkeypatch.setenv(OPERATOR_DIGESTS_ENV,
                       f"{keys.digest(old.plaintext)}, {keys.digest(new.plaintext)}")
    for key in (old, new):
        principal = operator_principal(key.plaintext)
        assert principal is not None and principal.is_operator
    assert operator_principal(stranger.plaintext) is None
    monkeypatch.setenv(OPERATOR_DIGESTS_ENV, keys.digest(new.plaintext))
    assert operator_principal(old.plaintext) is None
