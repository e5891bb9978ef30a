from functools import cache

from iopnet.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    service_name: str = "notifications"
    http_port: int = 8005
    #: Email goes out through this SMTP server (no TLS or login: a local relay).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_from: str = "iopnet notifications <notifications@iopnet.local>"
    smtp_timeout_seconds: float = 10
    webhook_timeout_seconds: float = 10
    #: The delivery job wakes on every new due message, and polls this often anyway.
    delivery_poll_seconds: float = 5
    #: Retry n waits backoff x 2^(n-1) seconds.
    delivery_backoff_seconds: float = 30
    delivery_max_attempts: int = 6
    delivery_concurrency: int = 4
    reminder_lead_hours: float = 24
    #: A family schedule update waits this long for the rest of its batch of sessions.
    schedule_batch_settle_seconds: float = 5
    #: A recipient gets at most one urgent alert about a patient this often; later causes
    #: wait for the window to close and go together (domain/urgent_alerts.py). Every site.
    urgent_alert_coalesce_seconds: float = 300
    #: A new urgent alert waits this long for the rest of a burst of causes.
    urgent_alert_gather_seconds: float = 10


@cache
def current() -> NotificationsSettings:
    """The process's settings, for code the runtime does not hand them to (projectors)."""
    return NotificationsSettings()
