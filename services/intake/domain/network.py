"""The network's registry: sites and the API keys issued to them. Intake keeps it."""

from __future__ import annotations

from datetime import datetime

from iopnet.aggregate import Aggregate
from iopnet.auth.keys import NewKey
from iopnet.catalog import (
    ApiKeyIssued,
    ApiKeyRevoked,
    DomainEvent,
    Scope,
    SiteOnboarded,
    SitePolicies,
    SitePoliciesChanged,
)


class NetworkRuleBroken(Exception):
    """A registry command the current state does not allow."""


class Site(Aggregate):
    stream_prefix = "site"

    def __init__(self, site_id: str) -> None:
        super().__init__(site_id)
        self.onboarded = False
        self.policies = SitePolicies()

    def onboard(self, name: str, time_zone: str, policies: SitePolicies) -> None:
        if self.onboarded:
            raise NetworkRuleBroken(f"site {self.id} is already onboarded")
        self.record(SiteOnboarded(site_id=self.id, name=name, time_zone=time_zone,
                                  policies=policies))

    def change_policies(self, policies: SitePolicies) -> None:
        self.record(SitePoliciesChanged(site_id=self.id, policies=policies))

    def apply(self, event: DomainEvent) -> None:
        match event:
            case SiteOnboarded():
                self.onboarded = True
                self.policies = event.policies
            case SitePoliciesChanged():
                self.policies = event.policies


class ApiKey(Aggregate):
    stream_prefix = "key"

    def __init__(self, key_id: str) -> None:
        super().__init__(key_id)
        self.site_id = ""
        self.scopes: list[Scope] = []
        self.rate_limit_per_minute = 0
        self.revoked = False

    @classmethod
    def issue(
        cls, site: Site, material: NewKey, scopes: list[Scope], *,
        expires_at: datetime | None, rate_limit_per_minute: int, replaces: str | None = None,
    ) -> ApiKey:
        if not site.onboarded:
            raise NetworkRuleBroken(f"site {site.id} is not onboarded")
        if Scope.OPERATOR in scopes:
            raise NetworkRuleBroken("operator keys are not issued to sites")
        key = cls(material.key_id)
        key.record(ApiKeyIssued(
            site_id=site.id, key_id=material.key_id, secret_sha256=material.secret_sha256,
            scopes=scopes, expires_at=expires_at, rate_limit_per_minute=rate_limit_per_minute,
            replaces=replaces,
        ))
        return key

    def rotate(self, site: Site, material: NewKey, expires_at: datetime | None) -> ApiKey:
        """A successor with the same site and scopes; this key stays valid until revoked."""
        if self.revoked:
            raise NetworkRuleBroken("a revoked key cannot be rotated")
        return ApiKey.issue(site, material, self.scopes, expires_at=expires_at,
                            rate_limit_per_minute=self.rate_limit_per_minute, replaces=self.id)

    def revoke(self) -> None:
        if self.revoked:
            raise NetworkRuleBroken("the key is already revoked")
        self.record(ApiKeyRevoked(site_id=self.site_id, key_id=self.id))

    def apply(self, event: DomainEvent) -> None:
        match event:
            case ApiKeyIssued():
                self.site_id = event.site_id
                self.scopes = list(event.scopes)
                self.rate_limit_per_minute = event.rate_limit_per_minute
            case ApiKeyRevoked():
                self.revoked = True
