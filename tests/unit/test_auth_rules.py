"""The pure parts of authentication: a key's shape, its secret, its record, the operator's
keys, and what a caller's scopes allow. (Requests through the API:
tests/integration/test_authentication.py.)"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from iopnet.auth import keys, registry
from iopnet.auth.guard import (
    OPERATOR_DIGESTS_ENV,
    OPERATOR_KEY_ENV,
    operator_principal,
    sql_literal,
)
from iopnet.auth.principal import ALL_SITES, Principal
from iopnet.catalog import Scope

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 10, 12, tzinfo=UTC)
KEY_ID, SECRET = "0123456789ab", "s" * 43
PLAINTEXT = f"iop_{KEY_ID}.{SECRET}"


def test_a_new_key_parses_back_to_its_id_and_a_secret_matching_its_digest() -> None:
    made = keys.new_key()
    parsed = keys.parse(made.plaintext)
    assert parsed is not None
    assert parsed.key_id == made.key_id
    assert keys.secret_matches(parsed.secret, made.secret_sha256)
    assert made.secret_sha256 == keys.digest(parsed.secret)
    assert keys.new_key().plaintext != made.plaintext


def test_a_key_parses_into_its_id_and_secret() -> None:
    assert keys.parse(PLAINTEXT) == keys.PresentedKey(KEY_ID, SECRET)


@pytest.mark.parametrize("presented", [
    f"iop_{KEY_ID}.{SECRET}x",  # a longer secret: no partial matches
    f"xiop_{KEY_ID}.{SECRET}",
    f"iop_{KEY_ID[:-1]}.{SECRET}",
    f"iop_{KEY_ID.upper()}.{SECRET}",
    f"iop_{KEY_ID}{SECRET}",
    f"{KEY_ID}.{SECRET}",
    "",
])
def test_anything_not_shaped_like_a_key_is_refused(presented: str) -> None:
    assert keys.parse(presented) is None


def test_only_the_secret_itself_matches_its_digest() -> None:
    stored = keys.digest(SECRET)
    assert stored == hashlib.sha256(SECRET.encode()).hexdigest()  # what the registry holds
    assert keys.secret_matches(SECRET, stored)
    assert not keys.secret_matches("t" * 43, stored)
    assert not keys.secret_matches(SECRET, stored[:-1])


@pytest.mark.parametrize(("expires_at", "revoked_at", "usable"), [
    (None, None, True),
    (NOW + timedelta(seconds=1), None, True),
    (NOW, None, False),  # it holds until, not through, its expiry
    (NOW - timedelta(days=1), None, False),
    (None, NOW - timedelta(days=1), False),
    (NOW + timedelta(days=1), NOW - timedelta(days=1), False),
])
def test_a_key_record_is_usable_until_it_expires_or_is_revoked(
        expires_at: datetime | None, revoked_at: datetime | None, usable: bool) -> None:
    assert registry.usable({"expires_at": expires_at, "revoked_at": revoked_at}, NOW) is usable


def test_a_site_key_may_do_what_its_scopes_say_for_its_own_site_only() -> None:
    site = Principal(KEY_ID, "site-a", frozenset({Scope.READ}), 60)
    assert not site.is_operator
    assert site.may(Scope.READ)
    assert not site.may(Scope.INTAKE_WRITE)
    assert not site.may(Scope.OPERATOR)
    assert site.may_act_for("site-a")
    assert not site.may_act_for("site-b")
    assert not site.may_act_for(ALL_SITES)
    assert site.data_site == "site-a"


def test_the_operator_may_do_anything_for_every_site() -> None:
    operator = Principal(KEY_ID, ALL_SITES, frozenset({Scope.OPERATOR}), 60)
    assert operator.is_operator
    assert all(operator.may(scope) for scope in Scope)
    assert operator.may_act_for("site-b")
    assert operator.data_site == ALL_SITES


def test_an_operator_key_is_one_whose_digest_is_configured(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OPERATOR_KEY_ENV, raising=False)
    other = keys.new_key().plaintext
    # Comma-separated (two while a key is rotated), in either case.
    monkeypatch.setenv(OPERATOR_DIGESTS_ENV,
                       f"{keys.digest(other)},{keys.digest(PLAINTEXT).upper()}")
    principal = operator_principal(PLAINTEXT)
    assert principal == Principal(KEY_ID, ALL_SITES, frozenset({Scope.OPERATOR}),
                                  principal.rate_limit_per_minute if principal else 0)
    assert principal is not None and principal.rate_limit_per_minute > 0
    assert operator_principal(other) is not None
    monkeypatch.setenv(OPERATOR_DIGESTS_ENV, f" {keys.digest(other)} , {keys.digest(PLAINTEXT)} ")
    assert operator_principal(PLAINTEXT) is not None


def test_a_key_that_is_not_the_operators_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OPERATOR_KEY_ENV, raising=False)
    monkeypatch.setenv(OPERATOR_DIGESTS_ENV, keys.digest(PLAINTEXT))
    same_id_other_secret = f"iop_{KEY_ID}.{'t' * 43}"
    assert operator_principal(same_id_other_secret) is None
    assert operator_principal(PLAINTEXT + "x") is None  # not a key's shape
    monkeypatch.setenv(OPERATOR_DIGESTS_ENV, "")
    assert operator_principal(PLAINTEXT) is None


def test_the_plaintext_operator_key_the_local_runner_hands_over_counts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OPERATOR_DIGESTS_ENV, raising=False)
    monkeypatch.setenv(OPERATOR_KEY_ENV, PLAINTEXT)
    assert operator_principal(PLAINTEXT) is not None
    assert operator_principal(f"iop_{KEY_ID}.{'t' * 43}") is None


@pytest.mark.parametrize(("text", "literal"), [
    ("site-north", "E'site-north'"),
    ("o'brien", "E'o''brien'"),
    ("back\\slash'", "E'back\\\\slash'''"),
    ("*", "E'*'"),
])
def test_a_site_goes_into_the_transactions_first_query_as_a_quoted_literal(
        text: str, literal: str) -> None:
    assert sql_literal(text) == literal


def test_nul_cannot_be_a_literal() -> None:
    with pytest.raises(ValueError):
        sql_literal("a\x00b")
