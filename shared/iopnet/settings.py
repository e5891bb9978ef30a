"""Settings every service reads from its environment (prefix ``IOPNET_``).

A service's own settings class subclasses ServiceSettings to set its name and
default HTTP port. Local defaults match ``iopctl infra up``; containers and
Kubernetes set the variables.
"""

from __future__ import annotations

import os

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PG_PORT = 55432
DEFAULT_KAFKA_PORT = 59092


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IOPNET_", extra="ignore")

    service_name: str
    http_host: str = "127.0.0.1"
    http_port: int
    database_url: str = ""
    kafka_bootstrap: str = f"127.0.0.1:{os.environ.get('IOPNET_KAFKA_PORT', DEFAULT_KAFKA_PORT)}"
    consumer_group: str = ""
    db_pool_size: int = 10
    log_level: str = "INFO"
    #: Where a worker serves its own /metrics (projection time, deliveries); 0 = not served.
    worker_metrics_port: int = 0

    @model_validator(mode="after")
    def _local_database(self) -> ServiceSettings:
        if not self.database_url:
            port = os.environ.get("IOPNET_PG_PORT", DEFAULT_PG_PORT)
            self.database_url = f"postgresql://iopnet@127.0.0.1:{port}/{self.service_name}"
        self.consumer_group = self.consumer_group or self.service_name
        return self
