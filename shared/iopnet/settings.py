"""Settings every service reads from its environment (prefix ``IOPNET_``).

A service's own settings class subclasses ServiceSettings to set its name and
default HTTP port. Local defaults match ``iopctl infra up``; containers and
Kubernetes set the variables.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Below Linux's ephemeral port range, like every local default (see iopctl/ports.py).
DEFAULT_PG_PORT = 25432
DEFAULT_KAFKA_PORT = 29092


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IOPNET_", extra="ignore")
    #: What a deployment gives every process (migrate, api, worker): these defaults suit
    #: only a developer's machine. docker-compose.yml, the chart and the local runner are
    #: held to it (tests/deploy/test_settings_agree.py).
    deployment_required: ClassVar[frozenset[str]] = frozenset(
        {"database_url", "kafka_bootstrap", "http_port"})

    service_name: str
    http_host: str = "127.0.0.1"
    http_port: int
    #: The services' login: a member of iopnet_api and iopnet_worker, owner of nothing.
    database_url: str = ""
    #: The schema owner's, for ``migrate`` only (the local default: the same as above).
    migration_database_url: str = ""
    kafka_bootstrap: str = f"127.0.0.1:{os.environ.get('IOPNET_KAFKA_PORT', DEFAULT_KAFKA_PORT)}"
    #: Managed Kafka: TLS (SSL, SASL_SSL, with a CA bundle) and SASL (PLAIN, SCRAM-*).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = (
        "PLAINTEXT")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ca_file: str | None = None
    consumer_group: str = ""
    db_pool_size: int = 10
    log_level: str = "INFO"
    #: Where a worker serves its own /metrics (projection time, deliveries); 0 = not served.
    worker_metrics_port: int = 0
    #: After SIGTERM, a worker's loops get this long to end what they are doing (a batch, a
    #: send); then they are cancelled (rolled back, done again later), so it exits in time.
    worker_stop_grace_seconds: float = 10

    @model_validator(mode="after")
    def _local_database(self) -> ServiceSettings:
        if not self.database_url:
            port = os.environ.get("IOPNET_PG_PORT", DEFAULT_PG_PORT)
            self.database_url = f"postgresql://iopnet@127.0.0.1:{port}/{self.service_name}"
        self.migration_database_url = self.migration_database_url or self.database_url
        self.consumer_group = self.consumer_group or self.service_name
        return self

    def kafka_client_options(self) -> dict[str, Any]:
        """Security options for every aiokafka client (producer, consumer, admin)."""
        options: dict[str, Any] = {"security_protocol": self.kafka_security_protocol}
        if self.kafka_security_protocol in ("SSL", "SASL_SSL"):
            from aiokafka.helpers import create_ssl_context

            options["ssl_context"] = create_ssl_context(cafile=self.kafka_ca_file)
        if self.kafka_sasl_mechanism is not None:
            password = self.kafka_sasl_password
            options |= {
                "sasl_mechanism": self.kafka_sasl_mechanism,
                "sasl_plain_username": self.kafka_sasl_username,
                "sasl_plain_password": password.get_secret_value() if password else None,
            }
        return options
