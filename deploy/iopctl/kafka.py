"""A local single-node Apache Kafka (KRaft, broker+controller) under ``.iopnet/kafka``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

from iopctl import kafka_acls, kafka_admin, kafka_config, kafka_jars, kafka_principals, paths
from iopctl.errors import InfraError
from iopctl.ports import HOST, kafka_controller_port, kafka_port, refuse_moved_port
from iopctl.proc import pid_alive, port_open, read_pid, run, tail_file
from iopctl.progress import say
from iopctl.status import ServiceStatus

COMPONENT = "kafka"
MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL_CLASS = "kafka.tools.StorageTool"
JVM_OPTIONS: tuple[str, ...] = (
    "-Xms256m",
    "-Xmx768m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-Djava.awt.headless=true",
)
_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 20.0


def bootstrap() -> str:
    return f"{HOST}:{kafka_port()}"


def pid_file() -> Path:
    return paths.kafka_dir() / "kafka.pid"


def log_file() -> Path:
    return paths.logs_dir() / "kafka.log"


def out_file() -> Path:
    return paths.logs_dir() / "kafka.out"


def places() -> tuple[tuple[str, Path], ...]:
    return (("data", paths.kafka_data_dir()), ("log", log_file()), ("jars", paths.kafka_libs_dir()))


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    if candidate is not None and candidate.exists():
        return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise InfraError(
            "kafka: `java` not found (install a JDK 17+: apt-get install openjdk-17-jre-headless)"
        )
    return found


def _classpath() -> str:
    return f"{paths.kafka_libs_dir()}/*"


def running_pid() -> int | None:
    pid = read_pid(pid_file())
    return pid if pid is not None and pid_alive(pid, MAIN_CLASS) else None


async def _format_storage() -> None:
    data = paths.kafka_data_dir()
    if (data / "meta.properties").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    say(COMPONENT, f"formatting storage {data} (one time)")
    await run(
        [
            _java(),
            "-cp",
            _classpath(),
            f"-Dlog4j2.configurationFile={kafka_config.log4j2_file()}",
            STORAGE_TOOL_CLASS,
            "format",
            "--standalone",
            "--ignore-formatted",
            "-t",
            kafka_config.cluster_id(),
            "-c",
            str(kafka_config.server_properties_file()),
        ],
        component=COMPONENT,
    )


def _spawn() -> subprocess.Popen[bytes]:
    for port, variable in ((kafka_port(), "IOPNET_KAFKA_PORT"),
                           (kafka_controller_port(), "IOPNET_KAFKA_CONTROLLER_PORT")):
        if port_open(HOST, port):
            raise InfraError(f"kafka: port {HOST}:{port} is taken by another process "
                             f"({variable} chooses another)")
    paths.logs_dir().mkdir(parents=True, exist_ok=True)
    command = [
        _java(),
        *JVM_OPTIONS,
        f"-Dlog4j2.configurationFile={kafka_config.log4j2_file()}",
        f"-Dkafka.logs.dir={paths.logs_dir()}",
        "-cp",
        _classpath(),
        MAIN_CLASS,
        str(kafka_config.server_properties_file()),
    ]
    say(COMPONENT, f"starting broker on {bootstrap()} (controller :{kafka_controller_port()})")
    with out_file().open("ab") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=paths.kafka_dir(),
            start_new_session=True,
        )
    pid_file().write_text(f"{process.pid}\n")
    return process


def _failure(reason: str) -> InfraError:
    return InfraError(f"kafka: {reason}\n{tail_file(log_file())}\n{tail_file(out_file(), 20)}")


def _still_running(pid: int, child: subprocess.Popen[bytes] | None) -> bool:
    # Our own child is asked directly: it is a zombie, not gone, until reaped.
    return child.poll() is None if child is not None else pid_alive(pid, MAIN_CLASS)


async def _wait_healthy(pid: int, child: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not port_open(HOST, kafka_port()):
        if not _still_running(pid, child):
            exit_code = f" with code {child.returncode}" if child is not None else ""
            raise _failure(f"broker process {pid} exited during startup{exit_code}")
        if time.monotonic() >= deadline:
            raise _failure(f"port {bootstrap()} not open after {_START_TIMEOUT_S:.0f}s")
        await asyncio.sleep(0.25)
    try:
        await kafka_admin.wait_ready(bootstrap(), max(1.0, deadline - time.monotonic()))
    except Exception as exc:
        raise _failure(f"admin client cannot list topics on {bootstrap()}: {exc!r}") from exc


async def up() -> None:
    """Resolve jars once, format once, start the broker, health-check, create the topics."""
    await kafka_jars.ensure_jars()
    pid = running_pid()
    if pid is not None:
        refuse_moved_port(COMPONENT, kafka_config.written_port(), kafka_port())
        _refuse_without_sasl()
    principals = kafka_principals.load_or_create()
    kafka_config.write_config(principals)
    # A folder formatted before SASL keeps its data: the admin is in the config, not
    # the metadata, so it logs in and creates the services' credentials below.
    await _format_storage()
    child = None
    if pid is not None:
        say(COMPONENT, f"already running (pid {pid})")
    else:
        child = _spawn()
        pid = child.pid
    await _wait_healthy(pid, child)
    await kafka_admin.with_admin(
        bootstrap(), lambda admin: kafka_acls.upsert_credentials(admin, principals))
    # Our own broker: topics left by an earlier version are brought in line (and the
    # services' ACLs on them granted).
    created = await kafka_admin.ensure_topics(bootstrap(), align=True)
    if created:
        say(COMPONENT, f"created topics: {', '.join(created)}")
    say(COMPONENT, f"ready at {bootstrap()} (pid {pid})")


def _refuse_without_sasl() -> None:
    if not kafka_config.written_with_sasl():
        raise InfraError("kafka: running without SASL (started by an earlier iopctl); "
                         "`iopctl infra down`, then up again, restarts it with SASL, "
                         "its data kept")


async def _exited(pid: int, timeout_s: float) -> bool:
    """Poll until ``pid`` is gone; False if it still runs after ``timeout_s``."""
    for _ in range(int(timeout_s / 0.1)):
        if not pid_alive(pid):
            return True
        await asyncio.sleep(0.1)
    return not pid_alive(pid)


async def down() -> None:
    pid = running_pid()
    if pid is None:
        say(COMPONENT, "not running")
        pid_file().unlink(missing_ok=True)
        return
    say(COMPONENT, f"stopping (pid {pid}, SIGTERM)")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not await _exited(pid, _STOP_TIMEOUT_S):
        say(COMPONENT, f"still alive after {_STOP_TIMEOUT_S:.0f}s, SIGKILL")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if not await _exited(pid, 10.0):
            raise InfraError(f"kafka: pid {pid} survived SIGKILL")
    pid_file().unlink(missing_ok=True)
    say(COMPONENT, "stopped")


async def status() -> ServiceStatus:
    return replace(await _health(), places=places())


async def _health() -> ServiceStatus:
    pid = running_pid()
    if pid is None:
        detail = "stopped" if kafka_jars.cached() else "not installed (jars not resolved)"
        return ServiceStatus(COMPONENT, running=False, endpoint=bootstrap(), detail=detail)
    try:
        topics = await asyncio.wait_for(kafka_admin.list_topics(bootstrap()), timeout=10)
    except Exception as exc:
        detail = f"pid {pid}, admin client failed: {exc!r}"
        return ServiceStatus(COMPONENT, running=True, endpoint=bootstrap(), detail=detail)
    detail = f"pid {pid}, {len(topics)} topics"
    return ServiceStatus(COMPONENT, running=True, endpoint=bootstrap(), detail=detail, healthy=True)
