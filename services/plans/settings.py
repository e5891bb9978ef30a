from iopnet.settings import ServiceSettings


class PlansSettings(ServiceSettings):
    service_name: str = "plans"
    http_port: int = 8002
