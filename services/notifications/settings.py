from __future__ import annotations

from functools import cache

from pydantic import SecretStr, model_validator

from iopnet.settings import ServiceSettings

#: Hosts an SMTP login may be sent to without TLS (a relay on this machine or pod).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class NotificationsSettings(ServiceSettings):
    service_name: str = "notifications"
    http_port: int = 8005
    #: Email goes out through this SMTP server: a local relay by default (no TLS, no login).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_from: str = "iopnet notifications <notifications@iopnet.local>"
    smtp_timeout_seconds: float = 10
    #: Upgrade the connection with STARTTLS (port 587) before anything is said.
    smtp_starttls: bool = False
    #: TLS from the first byte (SMTPS, port 465); excludes ``smtp_starttls``.
    smtp_tls: bool = False
    #: The CA bundle the SMTP server's certificate is checked against (default: the system's).
    smtp_ca_file: str | None = None
    #: Log in (AUTH) when a username is set; only over TLS unless the host is a loopback one.
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    #: The whole of one webhook send: resolving, connecting, TLS, request and response.
    webhook_timeout_seconds: float = 10
    #: At most this much of a webhook's response body is read; the rest is ignored.
    webhook_max_response_bytes: int = 4096
    #: Development only (``make up``, tests): webhooks may go to loopback, private and
    #: link-local addresses, and plain HTTP to this machine. Never in production (SSRF).
    webhook_allow_internal_addresses: bool = False
    #: After a secret is rotated, webhooks carry a signature with the previous one too.
    webhook_secret_overlap_hours: float = 24
    #: The delivery job wakes on every new due message, and polls this often anyway.
    delivery_poll_seconds: float = 5
    #: Retry n waits backoff x 2^(n-1) seconds.
    delivery_backoff_seconds: float = 30
    delivery_max_attempts: int = 6
    #: Sends in flight at once per worker, and at most this many of them for one site.
    delivery_concurrency: int = 8
    delivery_site_concurrency: int = 2
    #: A claimed message is this worker's for so long; a killed worker's claim lapses.
    delivery_lease_seconds: float = 120
    #: An endpoint that failed this many times in a row is left alone for the cool-down;
    #: its messages are deferred to the end of it, never dropped.
    circuit_failure_threshold: int = 5
    circuit_cooldown_seconds: float = 60
    reminder_lead_hours: float = 24
    #: A family schedule update waits this long for the rest of its batch of sessions.
    schedule_batch_settle_seconds: float = 5
    #: A recipient gets at most one urgent alert about a patient this often; later causes
    #: wait for the window to close and go together (domain/urgent_alerts.py). Every site.
    urgent_alert_coalesce_seconds: float = 300
    #: A new urgent alert waits this long for the rest of a burst of causes.
    urgent_alert_gather_seconds: float = 10
    #: The escalation job looks this often for urgent alerts past their site's window.
    alert_escalation_poll_seconds: float = 15

    @model_validator(mode="after")
    def _one_kind_of_smtp_tls(self) -> NotificationsSettings:
        if self.smtp_tls and self.smtp_starttls:
            raise ValueError("IOPNET_SMTP_TLS and IOPNET_SMTP_STARTTLS exclude each other")
        if (self.smtp_username and not (self.smtp_tls or self.smtp_starttls)
                and self.smtp_host not in LOOPBACK_HOSTS):
            raise ValueError("IOPNET_SMTP_USERNAME needs IOPNET_SMTP_STARTTLS or IOPNET_SMTP_TLS:"
                             " a password is never sent in the clear over the network")
        if self.delivery_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError("IOPNET_DELIVERY_LEASE_SECONDS must exceed the webhook timeout")
        return self


@cache
def current() -> NotificationsSettings:
    """The process's settings, for code the runtime does not hand them to (projectors)."""
    return NotificationsSettings()
