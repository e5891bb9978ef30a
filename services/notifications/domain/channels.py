"""A site's channels: where its clinician alerts and webhooks go."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

#: Plain HTTP is allowed only to this machine (local tests, a sidecar); anything else is HTTPS.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MIN_SECRET_LENGTH = 16


def webhook_url_problem(url: str) -> str | None:
    """Why a webhook URL is refused, or None when it is acceptable."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "not a URL"
    if not parts.hostname:
        return "a URL with a host is required"
    if parts.username or parts.password:
        return "credentials in the URL are not allowed; the signature authenticates"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return None
    return "must be https (http only to 127.0.0.1, localhost or ::1)"


@dataclass(frozen=True)
class SiteChannels:
    site_id: str
    clinician_alert_email: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
