"""Who connects to the local broker: one SCRAM principal per service, and an admin.

Each service authenticates as ``iopnet-<service>`` (SASL/SCRAM-SHA-512) and may
write its own topic only (docs/security.md, "Kafka"). The admin, the broker's only
super user, is ``iopnet-admin``: iopctl and the test suite's tooling. It logs in
with PLAIN, because its password lives in the broker's own configuration rather
than in the cluster metadata: it exists before any SCRAM credential does, so
a broker formatted before SASL comes up with its data kept, and iopctl then
creates the services' credentials and ACLs through it.

The passwords are generated once into ``.iopnet/kafka/config/principals.json``
(mode 0600). A client finds them by the broker's port: the broker of this
checkout's state folder, of the main checkout's, or one registered by a test.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iopctl import paths
from iopnet.settings import ServiceSettings
from iopnet.topics import SERVICES

ADMIN = "iopnet-admin"
#: The services' mechanism; the admin's is PLAIN (see the module's docstring).
MECHANISM = "SCRAM-SHA-512"
SECURITY_PROTOCOL = "SASL_PLAINTEXT"
_FILE = "principals.json"


def principal_of(service: str) -> str:
    return f"iopnet-{service}"


@dataclass(frozen=True)
class Principals:
    """The admin's password and each service's."""

    admin_password: str
    passwords: Mapping[str, str]

    def admin_options(self) -> dict[str, Any]:
        """aiokafka options for the admin (super user)."""
        logging.getLogger("aiokafka.conn").addFilter(_loopback_plain)
        return {"security_protocol": SECURITY_PROTOCOL, "sasl_mechanism": "PLAIN",
                "sasl_plain_username": ADMIN, "sasl_plain_password": self.admin_password}

    def service_options(self, service: str) -> dict[str, Any]:
        return {"security_protocol": SECURITY_PROTOCOL, "sasl_mechanism": MECHANISM,
                "sasl_plain_username": principal_of(service),
                "sasl_plain_password": self.passwords[service]}

    def service_env(self, service: str) -> dict[str, str]:
        """The variables a service's processes read (iopnet.settings)."""
        return {"IOPNET_KAFKA_SECURITY_PROTOCOL": SECURITY_PROTOCOL,
                "IOPNET_KAFKA_SASL_MECHANISM": MECHANISM,
                "IOPNET_KAFKA_SASL_USERNAME": principal_of(service),
                "IOPNET_KAFKA_SASL_PASSWORD": self.passwords[service]}


def _loopback_plain(record: logging.LogRecord) -> bool:
    """aiokafka warns at every PLAIN login without TLS: the admin's, on loopback only."""
    return record.getMessage() != "Sending username and password in the clear"


def principals_file(config_dir: Path | None = None) -> Path:
    return (config_dir or paths.kafka_config_dir()) / _FILE


def load_or_create(config_dir: Path | None = None) -> Principals:
    """This state folder's principals; missing passwords are generated (and kept)."""
    file = principals_file(config_dir)
    stored: dict[str, Any] = json.loads(file.read_text()) if file.exists() else {}
    wanted = {"admin": stored.get("admin") or secrets.token_urlsafe(24),
              **{s: stored.get(s) or secrets.token_urlsafe(24) for s in SERVICES}}
    if wanted != stored:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.touch(mode=0o600)
        file.chmod(0o600)
        file.write_text(json.dumps(wanted, indent=2) + "\n")
    return Principals(admin_password=wanted["admin"],
                      passwords={s: wanted[s] for s in SERVICES})


#: Brokers started elsewhere in this process (a test's own broker): port -> config folder.
_registered: dict[int, Path] = {}


def register(port: int, config_dir: Path) -> None:
    _registered[port] = config_dir


@functools.cache
def _main_checkout_state() -> Path | None:
    common = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
                            cwd=paths.REPO_ROOT, capture_output=True, text=True, check=False)
    return Path(common.stdout.strip()).parent / ".iopnet" if common.returncode == 0 else None


def local_principals(bootstrap: str) -> Principals | None:
    """The principals of the local broker serving ``bootstrap``, if iopctl runs it."""
    host, _, raw_port = bootstrap.split(",")[0].rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not raw_port.isdigit():
        return None
    from iopctl.kafka_config import written_port  # it imports this module

    port = int(raw_port)
    main_state = _main_checkout_state()
    candidates = [_registered.get(port), paths.kafka_config_dir(),
                  main_state / "kafka" / "config" if main_state else None]
    for config_dir in candidates:
        if (config_dir is not None and principals_file(config_dir).exists()
                and written_port(config_dir) == port):
            return load_or_create(config_dir)
    return None


class _KafkaSecurity(ServiceSettings):
    """Only for its IOPNET_KAFKA_* security settings, as the services read them."""

    service_name: str = "iopctl"
    http_port: int = 0


def admin_options(bootstrap: str) -> dict[str, Any]:
    """How tooling connects to ``bootstrap``: as the IOPNET_KAFKA_* variables say (a managed
    broker), else as the admin of a local broker iopctl runs, else unauthenticated."""
    if os.environ.get("IOPNET_KAFKA_SECURITY_PROTOCOL"):
        return _KafkaSecurity().kafka_client_options()
    found = local_principals(bootstrap)
    return found.admin_options() if found is not None else {}


def service_env(bootstrap: str, service: str) -> dict[str, str]:
    """A service's own credentials for the local broker at ``bootstrap`` (none elsewhere)."""
    found = local_principals(bootstrap)
    return found.service_env(service) if found is not None else {}
