"""A site's key as the operator issues it through intake, on every request after: the guard
lets it in as its site with its scopes, and refuses it once revoked, once expired, and
once its rate limit is spent (429, problem+json, ``Retry-After``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Annotated, Any

import asyncpg
import httpx
import pytest
from fastapi import Depends

from iopnet.app import create_app
from iopnet.auth import Principal, audit, guard, require
from iopnet.auth.guard import OPERATOR_KEY_ENV
from iopnet.auth.keys import PREFIX, new_key, parse
from iopnet.catalog import Scope
from iopnet.problems import PROBLEM_JSON, TYPE_BASE
from services.intake.service import SPEC
from services.intake.settings import IntakeSettings
from tests.conftest import FreshDatabase, eventually
from tests.fixtures.infra import Endpoints

pytestmark = pytest.mark.integration

SITE = "site-north"
#: A route of the test's own behind the real guard: it answers with the principal.
WHO = "/test/who-am-i"


async def who_am_i(principal: Annotated[Principal, Depends(require(Scope.READ))]
                   ) -> dict[str, Any]:
    return {"key_id": principal.key_id, "site_id": principal.site_id,
            "scopes": sorted(s.value for s in principal.scopes),
            "rate_limit_per_minute": principal.rate_limit_per_minute}


@dataclass
class Network:
    transport: httpx.ASGITransport
    operator: httpx.AsyncClient
    operator_key_id: str
    pool: asyncpg.Pool

    async def issue(self, scopes: list[str], **more: Any) -> dict[str, Any]:
        issued = await self.operator.post(f"/v1/network/sites/{SITE}/keys",
                                          json={"scopes": scopes, **more})
        assert issued.status_code == 201, issued.text
        body: dict[str, Any] = issued.json()
        return body

    async def as_key(self, api_key: str, path: str = WHO, *, header: str = "Authorization"
                     ) -> httpx.Response:
        sent = f"Bearer {api_key}" if header == "Authorization" else api_key
        async with httpx.AsyncClient(transport=self.transport, base_url="http://intake") as site:
            return await site.get(path, headers={header: sent})


@pytest.fixture
async def network(fresh_database: FreshDatabase, infra: Endpoints,
                  monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Network]:
    operator_key = new_key().plaintext
    monkeypatch.setenv(OPERATOR_KEY_ENV, operator_key)
    dsn = await fresh_database("sitekeys")
    await SPEC.migrate(dsn)
    app = create_app(SPEC, IntakeSettings(database_url=dsn, kafka_bootstrap=infra.kafka_bootstrap))
    app.add_api_route(WHO, who_am_i, methods=["GET"])
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=transport, base_url="http://intake",
        headers={"Authorization": f"Bearer {operator_key}"},
    ) as operator:
        onboarded = await operator.post("/v1/network/sites", json={
            "site_id": SITE, "name": "North", "time_zone": "America/Chicago"})
        assert onboarded.status_code == 201, onboarded.text
        presented = parse(operator_key)
        assert presented is not None
        yield Network(transport, operator, presented.key_id, app.state.pool)


#: Written into the COMMIT's literal SQL (``audit.with_commit``): it must land verbatim.
HOSTILE_CORRELATION = "corr-'1'\\'); DELETE FROM patients; --"


def expect_problem(answer: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = answer.json()
    assert (body["type"], body["status"]) == (TYPE_BASE + slug, status)
    return body


def expect_unauthorized(answer: httpx.Response) -> None:
    expect_problem(answer, 401, "unauthorized")
    assert answer.headers["www-authenticate"] == 'Bearer realm="iopnet"'


async def test_an_issued_key_is_its_site_with_its_scopes_and_nothing_more(
    network: Network,
) -> None:
    key = await network.issue(["read", "intake:write"], rate_limit_per_minute=1000,
                              expires_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
    for header in ("Authorization", "X-API-Key"):
        answer = await network.as_key(key["api_key"], header=header)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"key_id": key["key_id"], "site_id": SITE,
                                 "scopes": ["intake:write", "read"],
                                 "rate_limit_per_minute": 1000}
    # Its scopes do not reach the operator's routes, and the trail says who was refused.
    expect_problem(await network.as_key(key["api_key"], "/v1/network/keys"), 403, "forbidden")

    async def trailed() -> bool:
        return bool(await network.pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE key_id = $1 AND site_id = $2"
            " AND outcome = 403", key["key_id"], SITE) == 1)

    await eventually(trailed)
    # Its key id with any other secret is no key at all.
    forged = f"{PREFIX}{key['key_id']}.{new_key().plaintext.split('.')[1]}"
    expect_unauthorized(await network.as_key(forged))


async def test_a_revoked_key_is_refused(network: Network) -> None:
    key = await network.issue(["read"])
    assert (await network.as_key(key["api_key"])).status_code == 200
    revoked = await network.operator.post(f"/v1/network/keys/{key['key_id']}/revoke")
    assert revoked.status_code == 204, revoked.text
    expect_unauthorized(await network.as_key(key["api_key"]))


class _AnHourLater:
    """The guard's clock, an hour ahead of the database's."""

    @staticmethod
    def now(tz: tzinfo | None = None) -> datetime:
        return datetime.now(tz) + timedelta(hours=1)


async def test_a_key_is_refused_once_it_expired(network: Network,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard's clock moves past the expiry."""
    soon = datetime.now(UTC) + timedelta(minutes=30)
    key = await network.issue(["read"], expires_at=soon.isoformat())
    assert (await network.as_key(key["api_key"])).status_code == 200
    with monkeypatch.context() as later:
        later.setattr(guard, "datetime", _AnHourLater)
        expect_unauthorized(await network.as_key(key["api_key"]))


@pytest.mark.parametrize("expires_at", [
    (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),  # already past
    (datetime.now(UTC) + timedelta(days=1)).replace(tzinfo=None).isoformat(),  # no offset
])
async def test_a_key_that_would_expire_at_an_unknown_or_past_moment_is_not_issued(
    network: Network, expires_at: str,
) -> None:
    """Refused with the field at fault, for issue and rotation alike; nothing is issued."""
    key = await network.issue(["read"])
    before = await network.pool.fetchval("SELECT count(*) FROM api_keys")
    for path, body in ((f"/v1/network/sites/{SITE}/keys", {"scopes": ["read"]}),
                       (f"/v1/network/keys/{key['key_id']}/rotate", {})):
        refused = await network.operator.post(path, json={**body, "expires_at": expires_at})
        problem = expect_problem(refused, 422, "validation")
        assert [error["pointer"] for error in problem["errors"]] == ["#/expires_at"]
    assert await network.pool.fetchval("SELECT count(*) FROM api_keys") == before


async def test_a_key_past_its_rate_limit_is_answered_429_until_its_next_request_is_due(
    network: Network,
) -> None:
    """One request a minute: the first passes, the next waits up to a minute, whoever asks.
    Another key of the site keeps its own budget."""
    key = await network.issue(["read"], rate_limit_per_minute=1)
    assert (await network.as_key(key["api_key"])).status_code == 200
    refused = await network.as_key(key["api_key"])
    body = expect_problem(refused, 429, "rate-limited")
    wait = int(refused.headers["retry-after"])
    assert 1 <= wait <= 60
    assert body["detail"] == f"retry in {wait} s"
    other = await network.issue(["read"], rate_limit_per_minute=1)
    assert (await network.as_key(other["api_key"])).status_code == 200


async def test_the_operators_key_has_a_rate_limit_too(network: Network) -> None:
    """6000 a minute: spent here by moving its next request an hour ahead."""
    await network.pool.execute(
        "UPDATE rate_limits SET due_at = clock_timestamp() + interval '1 hour' WHERE key_id = $1",
        network.operator_key_id)
    refused = await network.operator.get("/v1/network/sites")
    expect_problem(refused, 429, "rate-limited")
    assert int(refused.headers["retry-after"]) > 3000


async def test_a_commands_audit_row_is_committed_with_it_once_and_a_replay_gets_its_own(
    network: Network,
) -> None:
    """The row of a command that ran is inserted by its own COMMIT; a replayed answer
    (no command run) and a refusal are written by the middleware, each once."""
    key = await network.issue(["read", "intake:write"])
    referral = {"source": "provider", "patient": {
        "given_name": "Ada", "family_name": "O'Brien\\", "birth_date": "1990-04-02"}}
    headers = {"Authorization": f"Bearer {key['api_key']}", "Idempotency-Key": "it's-1",
               "X-Correlation-Id": HOSTILE_CORRELATION}
    async with httpx.AsyncClient(transport=network.transport, base_url="http://intake",
                                 headers=headers) as site:
        first = await site.post("/v1/referrals", json=referral)
        assert first.status_code == 201, first.text
        replayed = await site.post("/v1/referrals", json=referral)
        assert replayed.json() == first.json()
        refused = await site.post("/v1/referrals", json={**referral, "site_id": "site-south"})
        assert refused.status_code == 403, refused.text
    rows = await network.pool.fetch(
        "SELECT key_id, site_id, action, resource, outcome, correlation FROM audit_log"
        " WHERE key_id = $1 ORDER BY id", key["key_id"])
    assert [tuple(row) for row in rows] == [
        (key["key_id"], SITE, "POST /v1/referrals", "/v1/referrals", status,
         HOSTILE_CORRELATION)
        for status in (201, 201, 403)]
    # In the referral's transaction: the same now() as the event it recorded.
    assert await network.pool.fetchval(
        "SELECT count(*) FROM audit_log a JOIN events e ON e.recorded_at = a.at"
        " WHERE a.key_id = $1 AND e.event_type = 'iopnet.PatientReferred'", key["key_id"]) == 1


async def test_a_command_whose_audit_row_fails_is_not_committed(
    network: Network, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The row and the command commit together or not at all: a failing row (here a
    statement that fails in its place) takes the command back, and the answer is a 500."""
    key = await network.issue(["read", "intake:write"])

    def failing_row(request: Any, db: guard.SiteDatabase, status: int) -> bool:
        db.with_commit.append("SELECT 1 / 0")
        return True

    monkeypatch.setattr(audit, "with_commit", failing_row)
    # Starlette answers 500 and raises the error again, for the server to log.
    quiet = httpx.ASGITransport(app=network.transport.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=quiet, base_url="http://intake",
                                 headers={"Authorization": f"Bearer {key['api_key']}"}) as site:
        answer = await site.post("/v1/referrals", json={"source": "provider", "patient": {
            "given_name": "Ada", "family_name": "Example", "birth_date": "1990-04-02"}})
    expect_problem(answer, 500, "internal")
    assert await network.pool.fetchval("SELECT count(*) FROM patients") == 0
    assert await network.pool.fetchval(
        "SELECT count(*) FROM events WHERE event_type = 'iopnet.PatientReferred'") == 0
    assert await network.pool.fetchval(
        "SELECT outcome FROM audit_log WHERE key_id = $1", key["key_id"]) == 500
