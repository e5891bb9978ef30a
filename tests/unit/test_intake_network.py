"""The network registry's rules: what intake refuses to issue to a site."""

from __future__ import annotations

import pytest

from iopnet.auth.keys import new_key
from iopnet.catalog import ApiKeyIssued, Scope, SitePolicies
from services.intake.domain.network import ApiKey, NetworkRuleBroken, Site


def onboarded(site_id: str = "site-a") -> Site:
    site = Site(site_id)
    site.onboard("Clinic A", "America/New_York", SitePolicies())
    return site


def test_a_site_is_issued_the_scopes_asked_for() -> None:
    key = ApiKey.issue(onboarded(), new_key(), [Scope.READ, Scope.INTAKE_WRITE],
                       expires_at=None, rate_limit_per_minute=600)
    [issued] = key.pending
    assert isinstance(issued, ApiKeyIssued)
    assert (issued.site_id, issued.scopes) == ("site-a", [Scope.READ, Scope.INTAKE_WRITE])


def test_the_operator_scope_is_never_issued_to_a_site() -> None:
    """Whoever held such a key would act for every site."""
    with pytest.raises(NetworkRuleBroken, match="operator"):
        ApiKey.issue(onboarded(), new_key(), [Scope.READ, Scope.OPERATOR], expires_at=None,
                     rate_limit_per_minute=600)


def test_a_site_not_onboarded_is_issued_nothing() -> None:
    with pytest.raises(NetworkRuleBroken, match="not onboarded"):
        ApiKey.issue(Site("site-b"), new_key(), [Scope.READ], expires_at=None,
                     rate_limit_per_minute=600)
