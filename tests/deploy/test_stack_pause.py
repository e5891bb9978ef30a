"""Stack.pause: a process that ignores SIGTERM past its grace is killed, not left behind."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from iopctl.stack import Stack

STUBBORN = ("import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
            " print('ready', flush=True); time.sleep(120)")


def test_a_process_still_running_after_the_grace_is_killed_and_the_timeout_said() -> None:
    stack = Stack(database_url={}, kafka_bootstrap="", operator_key="")
    stubborn = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE)
    assert stubborn.stdout is not None and stubborn.stdout.readline() == b"ready\n"
    stack.processes["notifications-worker"] = stubborn
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        stack.pause("notifications", "worker", grace=0.5)
    assert stubborn.poll() is not None  # killed, not orphaned
    assert time.monotonic() - started < 30
    assert "notifications-worker" not in stack.processes
    stubborn.stdout.close()
