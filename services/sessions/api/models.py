"""Request shapes and helpers shared by sessions' routes."""

from __future__ import annotations

from iopnet.auth import ALL_SITES, SiteDatabase
from iopnet.problems import Problem


def invalid(pointer: str, detail: str) -> Problem:
    return Problem(422, "validation", "The request is not valid", f"invalid: {pointer}",
                   errors=[{"pointer": pointer, "detail": detail}])


def acting_site(db: SiteDatabase, site_id: str | None) -> str:
    """The site a write is for: the key's own, or the one the operator names."""
    site = site_id or db.principal.site_id
    if site == ALL_SITES:
        raise invalid("#/site_id", "the network operator must name the site")
    if not db.principal.may_act_for(site):
        raise Problem(403, "forbidden", "The key is not for that site",
                      errors=[{"pointer": "#/site_id"}])
    return site
