"""A site's channels: where its clinician alerts and webhooks go."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from services.notifications.domain.addresses import forbidden_range, literal_address

#: An urgent alert unacknowledged this long escalates, unless the site sets its own window.
DEFAULT_ACKNOWLEDGE_WITHIN = timedelta(minutes=30)

MIN_SECRET_LENGTH = 16


def webhook_url_problem(url: str, *, allow_internal: bool = False) -> str | None:
    """Why a webhook URL is refused, or None when it is acceptable.

    HTTPS to the public internet only; ``allow_internal`` (a development setting)
    admits internal addresses, and plain HTTP to this machine, for local receivers.
    """
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        return "not a URL"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "not a URL"
    if not parts.hostname:
        return "a URL with a host is required"
    if parts.username or parts.password:
        return "credentials in the URL are not allowed; the signature authenticates"
    internal = internal_host(parts.hostname)
    if internal is not None and not allow_internal:
        return f"{internal} addresses are not allowed: webhooks go to the public internet"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and allow_internal and internal == "loopback":
        return None
    return "must be https"


def internal_host(host: str) -> str | None:
    """The internal range a host names by itself (an address, ``localhost``), else None;
    other names are checked when they are resolved, at each send."""
    if host == "localhost" or host.endswith(".localhost"):
        return "loopback"
    address = literal_address(host)
    return forbidden_range(address) if address is not None else None


@dataclass(frozen=True)
class SiteChannels:
    site_id: str
    clinician_alert_email: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    #: The secret a rotation replaced: webhooks are signed with it too until the time given.
    previous_webhook_secret: str | None = None
    previous_secret_until: datetime | None = None
    #: The second contact an unacknowledged urgent alert escalates to (domain/alerts.py).
    escalation_email: str | None = None
    #: How long the clinicians have to acknowledge an urgent alert; None: the default.
    acknowledge_within: timedelta | None = None

    @property
    def acknowledgement_window(self) -> timedelta:
        return self.acknowledge_within or DEFAULT_ACKNOWLEDGE_WITHIN

    def signing_secrets(self, now: datetime) -> tuple[str, ...]:
        """The secrets a webhook sent now is signed with: the current one first."""
        secrets: tuple[str, ...] = (self.webhook_secret,) if self.webhook_secret else ()
        if (self.previous_webhook_secret and self.previous_secret_until is not None
                and now < self.previous_secret_until
                and self.previous_webhook_secret != self.webhook_secret):
            secrets += (self.previous_webhook_secret,)
        return secrets

    def replacing(self, current: SiteChannels, now: datetime, overlap: timedelta
                  ) -> SiteChannels:
        """These channels set over ``current``: a changed secret keeps the old one in use
        for the overlap; an unchanged one keeps whatever overlap was running."""
        if current.webhook_secret and current.webhook_secret != self.webhook_secret:
            return replace(self, previous_webhook_secret=current.webhook_secret,
                           previous_secret_until=now + overlap)
        return replace(self, previous_webhook_secret=current.previous_webhook_secret,
                       previous_secret_until=current.previous_secret_until)
