from iopnet.settings import ServiceSettings


class SessionsSettings(ServiceSettings):
    service_name: str = "sessions"
    http_port: int = 8003
    #: How often the worker reviews program weeks that are over (weekly_review.py).
    week_review_seconds: float = 900
