from iopnet.settings import ServiceSettings


class SessionsSettings(ServiceSettings):
    service_name: str = "sessions"
    http_port: int = 8003
