"""A local PostgreSQL server under ``.iopnet/pg`` (idempotent up/down/status).

As root, the server runs as the ``postgres`` user and everything it touches
(cluster, log, socket) lives where that user may go: see ``paths.pg_dir()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import re
import stat
import time
from dataclasses import dataclass, replace
from pathlib import Path

from iopctl import paths, pgsql
from iopctl.errors import InfraError
from iopctl.ports import HOST, pg_port, refuse_moved_port
from iopctl.proc import Completed, as_user, chown_to, port_open, run, service_user, tail_file
from iopctl.progress import say
from iopctl.status import ServiceStatus

COMPONENT = "postgres"
SUPERUSER = "iopnet"
ADMIN_DATABASE = "postgres"
DATABASES: tuple[str, ...] = ("intake", "plans", "sessions", "family", "notifications")
_BIN_GLOB = "/usr/lib/postgresql/*/bin/pg_ctl"
_START_TIMEOUT_S = 60


@dataclass(frozen=True)
class Cluster:
    """A Postgres cluster run on this machine: its files, its port, its log.

    The folder above ``data_dir`` is the cluster's own; its tools run from there.
    """

    data_dir: Path
    socket_dir: Path
    port: int
    log: Path

    def dsn(self, database: str) -> str:
        """e.g. ``postgresql://iopnet@127.0.0.1:25432/intake`` (trust auth, loopback only)."""
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{database}"


def local_cluster() -> Cluster:
    """The cluster ``iopctl infra`` runs."""
    return Cluster(paths.pg_data_dir(), paths.pg_socket_dir(), pg_port(), log_file())


def dsn(database: str) -> str:
    return local_cluster().dsn(database)


def admin_dsn() -> str:
    return dsn(ADMIN_DATABASE)


def log_file() -> Path:
    return paths.pg_log_file()


def places() -> tuple[tuple[str, Path], ...]:
    return (("data", paths.pg_data_dir()), ("log", log_file()), ("socket", paths.pg_socket_dir()))


async def _as_postgres(command: list[str], cluster: Cluster, *, check: bool = True
                       ) -> Completed:
    """Run a server tool as the cluster's owner, from a folder that user may enter."""
    return await run(as_user(service_user("postgres"), command), component=COMPONENT,
                     cwd=cluster.data_dir.parent, check=check)


def find_bin_dir() -> Path | None:
    """The ``bin`` dir of the highest installed PostgreSQL major version, if any."""
    candidates = [Path(p).parent for p in Path("/").glob(_BIN_GLOB.lstrip("/"))]

    def version(bin_dir: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", bin_dir.parent.name))

    return max(candidates, key=version) if candidates else None


async def ensure_installed() -> Path:
    bin_dir = find_bin_dir()
    if bin_dir is not None:
        return bin_dir
    if os.geteuid() != 0:
        raise InfraError("postgres: server binaries missing; run `apt-get install postgresql`")
    say(COMPONENT, "server binaries missing, installing with apt-get (one time)")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    await run(["apt-get", "update"], component=COMPONENT, env=env, heartbeat="apt-get update")
    await run(
        ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"],
        component=COMPONENT,
        env=env,
        heartbeat="apt-get install postgresql",
    )
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise InfraError(f"postgres: installed, but nothing matches {_BIN_GLOB}")
    return bin_dir


def _server_conf(cluster: Cluster) -> str:
    return "\n".join(
        [
            "# Written by iopctl on every `infra up`; local dev/test settings.",
            f"listen_addresses = '{HOST}'",
            f"port = {cluster.port}",
            f"unix_socket_directories = '{cluster.socket_dir}'",
            "max_connections = 300",
            # A commit is acknowledged only once its WAL is on disk: an API's 201 and a
            # consumer's stored offset must survive a crash (docs/operations.md).
            "fsync = on",
            "synchronous_commit = on",
            "shared_buffers = 128MB",
            "log_min_messages = warning",
            "log_timezone = 'UTC'",
            "timezone = 'UTC'",
            "",
        ]
    )


_HBA = """\
# Written by iopctl: trust, but only over the unix socket and loopback.
local   all             all                                     trust
host    all             all             127.0.0.1/32            trust
local   replication     all                                     trust
host    replication     all             127.0.0.1/32            trust
"""


def _check_ours(folder: Path, user: pwd.struct_passwd | None) -> None:
    """Anyone may have made a folder under /var/tmp first: use it only if it is ours."""
    info = folder.lstat()
    owners = {os.geteuid(), user.pw_uid if user else os.geteuid()}
    if stat.S_ISLNK(info.st_mode) or info.st_uid not in owners:
        raise InfraError(f"postgres: {folder} is a link or belongs to uid {info.st_uid}, "
                         "not to iopctl; remove it and try again")


async def _initdb(bin_dir: Path, cluster: Cluster) -> None:
    user = service_user("postgres")
    pg_dir, data_dir, sock_dir = cluster.data_dir.parent, cluster.data_dir, cluster.socket_dir
    pg_dir.mkdir(parents=True, exist_ok=True)
    _check_ours(pg_dir, user)
    for directory in (data_dir, sock_dir):
        directory.mkdir(exist_ok=True)
    data_dir.chmod(0o700)
    chown_to(user, pg_dir, data_dir, sock_dir)
    if (data_dir / "PG_VERSION").exists():
        return
    say(COMPONENT, f"initdb {data_dir} (one time)")
    await _as_postgres(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        ],
        cluster,
    )


def _write_config(cluster: Cluster) -> None:
    user = service_user("postgres")
    data_dir = cluster.data_dir
    conf = data_dir / "postgresql.conf"
    include = "include_if_exists = 'iopnet.conf'"
    if include not in conf.read_text():
        with conf.open("a") as handle:
            handle.write(f"\n{include}\n")
    for name, text in (("iopnet.conf", _server_conf(cluster)), ("pg_hba.conf", _HBA)):
        target = data_dir / name
        target.write_text(text)
        chown_to(user, target)


async def _pg_ctl_running(bin_dir: Path, cluster: Cluster) -> bool:
    if not (cluster.data_dir / "PG_VERSION").exists():
        return False
    result = await _as_postgres(
        [str(bin_dir / "pg_ctl"), "-D", str(cluster.data_dir), "status"], cluster, check=False
    )
    return result.returncode == 0


def _running_port(cluster: Cluster) -> int | None:
    """The port the running server listens on: the fourth line of its postmaster.pid."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        return int((cluster.data_dir / "postmaster.pid").read_text().splitlines()[3])
    return None


async def _start(bin_dir: Path, cluster: Cluster) -> None:
    log = cluster.log
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch(exist_ok=True)
    chown_to(service_user("postgres"), log)
    if port_open(HOST, cluster.port):
        raise InfraError(f"postgres: port {HOST}:{cluster.port} is taken by another process "
                         "(IOPNET_PG_PORT chooses another)")
    say(COMPONENT, f"starting on {HOST}:{cluster.port}")
    result = await _as_postgres(
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(cluster.data_dir),
            "-l",
            str(log),
            "-w",
            "-t",
            str(_START_TIMEOUT_S),
            "start",
        ],
        cluster,
        check=False,
    )
    if result.returncode != 0:
        raise InfraError(f"postgres: pg_ctl start failed\n{result.output}\n{tail_file(log)}")


async def _wait_healthy(bin_dir: Path, cluster: Cluster) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    last_error = ""
    while time.monotonic() < deadline:
        ready = await run(
            [
                str(bin_dir / "pg_isready"),
                "-q",
                "-h",
                HOST,
                "-p",
                str(cluster.port),
                "-U",
                SUPERUSER,
                "-d",
                ADMIN_DATABASE,
            ],
            component=COMPONENT,
            check=False,
        )
        if ready.returncode == 0:
            try:
                await pgsql.select_one(cluster.dsn(ADMIN_DATABASE))
                return
            except Exception as exc:
                last_error = repr(exc)
        await asyncio.sleep(0.25)
    raise InfraError(
        f"postgres: not healthy after {_START_TIMEOUT_S}s ({last_error})\n{tail_file(cluster.log)}"
    )


async def up() -> None:
    """Start the local cluster (see ``start``), then create the service databases."""
    if not paths.postgres_reaches_state_dir():
        say(COMPONENT, f"the postgres user cannot enter {paths.state_dir()}: "
                       f"cluster, log and socket are in {paths.pg_dir()}")
    await start(local_cluster())
    created = await pgsql.ensure_databases(admin_dsn(), list(DATABASES))
    if created:
        say(COMPONENT, f"created databases: {', '.join(created)}")
    for database in DATABASES:  # the services connect as iopnet_runtime, migrate as the owner
        await pgsql.hand_to_owner(admin_dsn(), database)
    say(COMPONENT, f"ready at {admin_dsn()}")


async def start(cluster: Cluster) -> None:
    """Install (apt) if needed, initdb once, start unless running, health-check."""
    bin_dir = await ensure_installed()
    await _initdb(bin_dir, cluster)
    _write_config(cluster)
    if await _pg_ctl_running(bin_dir, cluster):
        refuse_moved_port(COMPONENT, _running_port(cluster), cluster.port)
        say(COMPONENT, "already running")
    else:
        await _start(bin_dir, cluster)
    await _wait_healthy(bin_dir, cluster)


async def stop(cluster: Cluster, mode: str = "fast") -> None:
    """``pg_ctl stop -m mode``: ``fast`` shuts down cleanly; ``immediate`` is a crash
    (no checkpoint: the next start recovers from the WAL)."""
    bin_dir = find_bin_dir()
    if bin_dir is None or not await _pg_ctl_running(bin_dir, cluster):
        say(COMPONENT, "not running")
        return
    say(COMPONENT, "stopping" if mode == "fast" else f"stopping ({mode})")
    await _as_postgres(
        [str(bin_dir / "pg_ctl"), "-D", str(cluster.data_dir), "-m", mode, "-w", "stop"], cluster
    )
    say(COMPONENT, "stopped")


async def down() -> None:
    await stop(local_cluster())


async def status() -> ServiceStatus:
    return replace(await _health(), places=places())


async def _health() -> ServiceStatus:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        return ServiceStatus(COMPONENT, running=False, endpoint=admin_dsn(), detail="not installed")
    if not await _pg_ctl_running(bin_dir, local_cluster()):
        return ServiceStatus(COMPONENT, running=False, endpoint=admin_dsn(), detail="stopped")
    try:
        await pgsql.select_one(admin_dsn(), connect_timeout=3.0)
        detail = f"PostgreSQL {bin_dir.parent.name}"
    except Exception as exc:
        detail = f"process up but SELECT 1 failed: {exc!r}"
        return ServiceStatus(
            COMPONENT, running=True, endpoint=admin_dsn(), detail=detail, healthy=False
        )
    return ServiceStatus(COMPONENT, running=True, endpoint=admin_dsn(), detail=detail, healthy=True)


async def create_database(name: str) -> str:
    """Create ``name`` if missing on the local server; return its DSN."""
    await pgsql.ensure_databases(admin_dsn(), [name])
    return dsn(name)


async def drop_database(name: str) -> None:
    await pgsql.drop_database(admin_dsn(), name)
