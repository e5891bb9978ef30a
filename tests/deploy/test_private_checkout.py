"""``iopctl infra up`` and ``down`` from a checkout in a folder only root may enter.

A newcomer clones into ``/root`` or a ``mktemp -d`` folder (mode 700). As root,
Postgres runs as the ``postgres`` user, who cannot enter such a checkout: its
cluster, log and socket must live elsewhere, and its tools must not start in
the checkout. The Kafka broker runs as root and stays in the checkout. The
servers started here listen on ports of their own, never the shared ones.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from iopctl import kafka_jars, paths
from tests.conftest import free_port

_COMMAND_TIMEOUT_S = 300


@dataclass(frozen=True)
class PrivateCheckout:
    root: Path
    env: dict[str, str]

    def iopctl(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "iopctl.cli", *args], cwd=self.root, env=self.env | env,
            capture_output=True, text=True, timeout=_COMMAND_TIMEOUT_S, check=False)

    @property
    def state_dir(self) -> Path:
        return self.root / ".iopnet"


def copy_of_this_checkout(folder: Path) -> Path:
    """The code iopctl runs from, laid out as in a clone (its working tree, edits included)."""
    checkout = folder / "iopnet"
    for part in ("deploy", "shared"):
        shutil.copytree(paths.REPO_ROOT / part, checkout / part,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return checkout


def reuse_kafka_jars(state_dir: Path) -> None:
    """Copies this checkout's resolved broker jars, if any, so Maven is not asked again."""
    if kafka_jars.cached():
        shutil.copytree(paths.kafka_libs_dir(), state_dir / "kafka" / "libs")


def distinct_free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def environment(checkout: Path) -> dict[str, str]:
    """This environment, with the checkout's code first and the servers on ports of their own."""
    pg, kafka, controller = distinct_free_ports(3)
    env = {name: value for name, value in os.environ.items() if name != "IOPNET_HOME"}
    return env | {
        "PYTHONPATH": os.pathsep.join([str(checkout / "deploy"), str(checkout / "shared")]),
        "IOPNET_PG_PORT": str(pg),
        "IOPNET_KAFKA_PORT": str(kafka),
        "IOPNET_KAFKA_CONTROLLER_PORT": str(controller),
    }


@pytest.fixture
def checkout(tmp_path: Path) -> Iterator[PrivateCheckout]:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)  # whatever the umask
    root = copy_of_this_checkout(private)
    made = PrivateCheckout(root, environment(root))
    reuse_kafka_jars(made.state_dir)
    try:
        yield made
    finally:
        made.iopctl("infra", "down")
        shutil.rmtree(cluster_dir(made), ignore_errors=True)


def cluster_dir(checkout: PrivateCheckout) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IOPNET_HOME", str(checkout.state_dir))
        return paths.pg_dir()


@pytest.mark.unit
def test_the_server_files_leave_a_checkout_the_postgres_user_cannot_enter(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    monkeypatch.setenv("IOPNET_HOME", str(private / "iopnet" / ".iopnet"))
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    cluster = paths.pg_dir()
    assert cluster.parent == Path("/var/tmp")
    assert (paths.pg_data_dir(), paths.pg_log_file(), paths.pg_socket_dir()) == (
        cluster / "data", cluster / "postgres.log", cluster / "sock")


@pytest.mark.unit
def test_without_root_the_server_files_stay_in_the_checkout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOPNET_HOME", str(tmp_path / ".iopnet"))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert paths.pg_dir() == tmp_path / ".iopnet" / "pg"
    assert paths.pg_log_file() == tmp_path / ".iopnet" / "logs" / "postgres.log"


@pytest.mark.skipif(os.geteuid() != 0, reason="only as root does Postgres run as another user")
def test_infra_runs_from_a_checkout_the_postgres_user_cannot_enter(
        checkout: PrivateCheckout) -> None:
    cluster = cluster_dir(checkout)
    assert not cluster.is_relative_to(checkout.root)

    up = checkout.iopctl("infra", "up")
    assert up.returncode == 0, up.stdout + up.stderr
    status = checkout.iopctl("infra", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    for place in (cluster / "data", cluster / "postgres.log", cluster / "sock",
                  checkout.state_dir / "kafka" / "data"):
        assert str(place) in status.stdout, status.stdout
    assert (cluster / "postgres.log").stat().st_size > 0
    assert not (checkout.state_dir / "logs" / "postgres.log").exists()

    elsewhere = {name: str(port) for name, port in
                 zip(("IOPNET_PG_PORT", "IOPNET_KAFKA_PORT"), distinct_free_ports(2), strict=True)}
    moved = checkout.iopctl("infra", "up", **elsewhere)
    assert moved.returncode == 1, moved.stdout + moved.stderr
    for component in ("postgres", "kafka"):
        assert f"{component}: already running on port" in moved.stderr, moved.stderr

    down = checkout.iopctl("infra", "down")
    assert down.returncode == 0, down.stdout + down.stderr
    after = checkout.iopctl("infra", "status")
    assert after.returncode == 3, after.stdout
    assert "healthy" not in after.stdout and "running" not in after.stdout
