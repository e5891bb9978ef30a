"""The local runner tells live processes from dead ones in any PID namespace.

CI runs the suite in a new PID namespace whose ``/proc`` is the host's: there,
``/proc/<pid>`` names another process and a broker that was running looked dead.
"""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

from iopctl.proc import pid_alive, proc_dir


def started(command: list[str]) -> subprocess.Popen[bytes]:
    """A child past its exec: until then /proc shows it without a command line."""
    child = subprocess.Popen(command)
    deadline = time.monotonic() + 5
    while not command_line(child.pid):
        assert time.monotonic() < deadline, "the child never got its command line"
        time.sleep(0.01)
    return child


def command_line(pid: int) -> bytes:
    folder = proc_dir(pid)
    return (folder / "cmdline").read_bytes() if folder else b""


# Run in the namespace: start a child, look at it alive, end it, look again.
_PROBE = "\n".join([
    "import subprocess, time",
    "from iopctl.proc import pid_alive, proc_dir",
    inspect.getsource(started),
    inspect.getsource(command_line),
    textwrap.dedent(
        """
        child = started(["sleep", "30"])
        alive = pid_alive(child.pid, "sleep"), pid_alive(child.pid, "not-its-command")
        child.kill()
        child.wait()
        print(alive, pid_alive(child.pid, "sleep"))
        """
    ),
])


def test_a_running_process_is_alive_and_an_ended_one_is_not() -> None:
    child = started(["sleep", "30"])
    try:
        assert pid_alive(child.pid, "sleep")
        assert not pid_alive(child.pid, "kafka.Kafka")
        assert proc_dir(os.getpid()) is not None
    finally:
        child.kill()
    child.wait()
    assert not pid_alive(child.pid)


def test_processes_are_seen_in_a_pid_namespace_without_its_own_proc() -> None:
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    result = subprocess.run(
        ["unshare", "--pid", "--fork", sys.executable, "-c", _PROBE],
        capture_output=True, text=True, timeout=60, check=False,
    )
    if result.returncode != 0 and "Operation not permitted" in result.stderr:
        pytest.skip("this user may not create PID namespaces")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(True, False) False"
