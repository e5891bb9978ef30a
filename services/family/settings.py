from iopnet.settings import ServiceSettings


class FamilySettings(ServiceSettings):
    service_name: str = "family"
    http_port: int = 8004
