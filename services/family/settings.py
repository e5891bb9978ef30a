from iopnet.settings import ServiceSettings


class FamilySettings(ServiceSettings):
    service_name: str = "family"
    http_port: int = 8004
    #: How often the worker records the consents that reached their expiry (consent_expiry.py).
    consent_expiry_seconds: float = 900
