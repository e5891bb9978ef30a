"""Subprocess, pid and socket helpers shared by the Postgres and Kafka runners."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from iopctl.errors import InfraError
from iopctl.progress import say


@dataclass(frozen=True)
class Completed:
    returncode: int
    output: str


async def run(
    cmd: Sequence[str],
    *,
    component: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
    heartbeat: str | None = None,
    heartbeat_every: float = 15.0,
) -> Completed:
    """Run ``cmd`` to completion, capturing stdout+stderr together.

    With ``heartbeat`` set, print "<heartbeat> (still running, Ns)" every
    ``heartbeat_every`` seconds so long steps (apt, Maven) are never silent.
    """
    full_env = {**os.environ, **(env or {})}
    try:
        process = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise InfraError(f"{component}: command not found: {cmd[0]}") from exc
    communicate = asyncio.ensure_future(process.communicate())
    waited = 0.0
    while True:
        done, _ = await asyncio.wait({communicate}, timeout=heartbeat_every)
        if done:
            break
        waited += heartbeat_every
        if heartbeat:
            say(component, f"{heartbeat} (still running, {waited:.0f}s)")
    stdout, _ = communicate.result()
    output = stdout.decode(errors="replace") if stdout else ""
    returncode = process.returncode if process.returncode is not None else -1
    if check and returncode != 0:
        raise InfraError(
            f"{component}: `{' '.join(cmd)}` failed with exit code {returncode}:\n"
            f"{tail_text(output, 40)}"
        )
    return Completed(returncode, output)


def run_logged(
    component: str,
    cmd: Sequence[str],
    *,
    log: IO[bytes],
    log_path: Path,
    env: Mapping[str, str],
    cwd: Path,
    started: float,
    heartbeat_every: float = 15.0,
) -> None:
    """Run a long build step into ``log``, saying "still building" every ``heartbeat_every`` s.

    The heartbeat counts the log's lines (``go build -v`` writes one per package).
    """
    log.flush()
    process = subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL, stdout=log,
                               stderr=subprocess.STDOUT, env=dict(env), cwd=cwd)
    while True:
        try:
            returncode = process.wait(timeout=heartbeat_every)
            break
        except subprocess.TimeoutExpired:
            lines = log_path.read_bytes().count(b"\n")
            logged = f", {lines} lines logged" if lines else ""
            say(component, f"still building ({time.monotonic() - started:.0f}s{logged})")
        except BaseException:
            process.kill()
            process.wait()
            raise
    if returncode != 0:
        raise InfraError(f"{component}: `{' '.join(cmd[:2])}` failed with exit code "
                         f"{returncode}\n{tail_file(log_path)}")


def tail_text(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def tail_file(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file, or a note that it is missing."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return f"--- tail of {path} ---\n{tail_text(text, lines)}"


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def proc_dir(pid: int) -> Path | None:
    """The ``/proc`` folder of ``pid`` as this process numbers it, or None if not found.

    A sandbox can run us in a new PID namespace without remounting ``/proc``
    (CI does): ``/proc/<pid>`` then names some other process, so the folder is
    found by the pid the process has in our namespace (the last ``NSpid``).
    """
    if os.readlink("/proc/self") == str(os.getpid()):
        return Path(f"/proc/{pid}")
    own_namespace = os.readlink("/proc/self/ns/pid")
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            if (
                _namespace_pid(status.read_text()) == pid
                and os.readlink(status.parent / "ns" / "pid") == own_namespace
            ):
                return status.parent
    return None


def _namespace_pid(status: str) -> int | None:
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    return None


def pid_alive(pid: int, cmdline_marker: str | None = None) -> bool:
    """True when ``pid`` runs (and, if given, its command line contains the marker).

    The marker guards against a recycled pid; a zombie counts as gone.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    folder = proc_dir(pid)
    if folder is None:  # it takes signals but /proc hides it: believe the signal
        return True
    try:
        stat = (folder / "stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
        cmdline = (folder / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, IndexError):
        return False
    return cmdline_marker is None or cmdline_marker in cmdline


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def service_user(name: str) -> pwd.struct_passwd | None:
    """The system user to run a root-refusing server as, or None when not root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise InfraError(
            f"running as root but the system user {name!r} does not exist "
            f"(install the Debian package that creates it)"
        ) from None


def as_user(user: pwd.struct_passwd | None, cmd: Sequence[str]) -> list[str]:
    """Prefix ``cmd`` with ``runuser`` when a service user is required."""
    if user is None:
        return list(cmd)
    return ["runuser", "-u", user.pw_name, "--", *cmd]


def chown_to(user: pwd.struct_passwd | None, *paths: Path) -> None:
    if user is None:
        return
    for path in paths:
        os.chown(path, user.pw_uid, user.pw_gid)
