"""Where iopctl keeps its local state: ``<repo>/.iopnet/`` unless ``IOPNET_HOME`` says otherwise."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

#: deploy/iopctl/paths.py -> deploy/iopctl -> deploy -> repository root.
REPO_ROOT: Path = Path(__file__).resolve().parents[2]

#: The Maven project that pins the Kafka broker's jars (a committed file).
KAFKA_POM: Path = Path(__file__).resolve().parent / "kafka_pom" / "pom.xml"


def state_dir() -> Path:
    """The root of all local state (data, jar cache, configs, logs)."""
    override = os.environ.get("IOPNET_HOME")
    return Path(override).expanduser().resolve() if override else REPO_ROOT / ".iopnet"


def postgres_reaches_state_dir() -> bool:
    """Whether the user the Postgres server runs as may enter the state dir.

    Postgres refuses to run as root, so as root the cluster belongs to the
    ``postgres`` user; a checkout below a private folder (``/root/...``, a
    ``mktemp -d`` folder) is out of that user's reach.
    """
    return os.geteuid() != 0 or _others_can_enter(state_dir())


def pg_dir() -> Path:
    """Where the server reads and writes: in the checkout, or under /var/tmp if out of reach."""
    inside = state_dir() / "pg"
    if postgres_reaches_state_dir():
        return inside
    digest = hashlib.sha256(str(inside).encode()).hexdigest()[:10]
    return Path("/var/tmp") / f"iopnet-pg-{digest}"


def _others_can_enter(folder: Path) -> bool:
    for ancestor in [folder, *folder.parents]:
        if ancestor.exists() and not ancestor.stat().st_mode & stat.S_IXOTH:
            return False
    return True


def pg_log_file() -> Path:
    """The server's log: with the other logs, unless the server could not write there."""
    folder = logs_dir() if postgres_reaches_state_dir() else pg_dir()
    return folder / "postgres.log"


def pg_data_dir() -> Path:
    return pg_dir() / "data"


def pg_socket_dir() -> Path:
    """Unix socket directory: next to the data dir, never /var/run."""
    return pg_dir() / "sock"


def kafka_dir() -> Path:
    return state_dir() / "kafka"


def kafka_libs_dir() -> Path:
    """Jar cache filled once by Maven."""
    return kafka_dir() / "libs"


def kafka_data_dir() -> Path:
    return kafka_dir() / "data"


def kafka_config_dir() -> Path:
    return kafka_dir() / "config"


def logs_dir() -> Path:
    return state_dir() / "logs"
