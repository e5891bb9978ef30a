"""Who may do what: API keys, scopes, site isolation, rate limits, the audit trail."""

from iopnet.auth.guard import SiteDatabase, require, site_database
from iopnet.auth.principal import ALL_SITES, Principal

__all__ = ["ALL_SITES", "Principal", "SiteDatabase", "require", "site_database"]
