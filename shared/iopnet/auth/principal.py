"""Who is calling: the key's site and scopes, as established for one request."""

from __future__ import annotations

from dataclasses import dataclass

from iopnet.catalog import Scope

ALL_SITES = "*"


@dataclass(frozen=True)
class Principal:
    key_id: str
    site_id: str
    scopes: frozenset[Scope]
    rate_limit_per_minute: int

    @property
    def is_operator(self) -> bool:
        return Scope.OPERATOR in self.scopes

    @property
    def data_site(self) -> str:
        """The site whose rows this caller sees: its own, or all for the operator."""
        return ALL_SITES if self.is_operator else self.site_id

    def may(self, scope: Scope) -> bool:
        return self.is_operator or scope in self.scopes

    def may_act_for(self, site_id: str) -> bool:
        return self.is_operator or site_id == self.site_id
