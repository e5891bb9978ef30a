"""Where an API process's CPU goes: py-spy samples it while the bench loads it.

``py-spy record`` samples the running process from outside (no code of ours in
it) and keeps only stacks that are on the CPU, not waiting in the event loop.
``summary`` reads its collapsed stacks: the share of samples under each step of
a request (inclusive), and the share spent in each library's own code (self).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

#: Steps of a request, by a frame that only that step has (``function (file)``).
STEPS = {
    "authentication, rate limit": "authenticate (iopnet/auth/guard.py",
    "audit row": "record (iopnet/auth/audit.py",
    "request metrics": "observe (iopnet/app.py",
    "idempotency wrapper (outside the command)": "execute (iopnet/idempotency.py",
    "command transaction (run_once)": "run_once (iopnet/idempotency.py",
    "  BEGIN with role and site, COMMIT": "SiteDatabase.transaction (iopnet/auth/guard.py",
    "  reading the stream": "read_stream (iopnet/eventstore.py",
    "  appending events + outbox": "append (iopnet/eventstore.py",
    "body parsing and validation": "request_body_to_args (fastapi",
    "response serialization": "render (",
}
#: The innermost frame of a sample taken in uvloop's own (native) loop.
EVENT_LOOP = "Runner.run (asyncio/runners.py"
#: Libraries, by a piece of the file path of the innermost frame.
LIBRARIES = {
    "asyncpg": "asyncpg/", "pydantic": "pydantic", "fastapi": "fastapi/",
    "starlette": "starlette/", "uvicorn/httptools": "uvicorn/", "json": "json/",
    "orjson": "orjson", "uuid": "uuid.py", "asyncio, uvloop": "asyncio/",
    "iopnet": "iopnet/", "services": "services/", "opentelemetry": "opentelemetry/",
    "prometheus": "prometheus_client/",
}


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return found


def start(pid: int, output: Path) -> subprocess.Popen[bytes]:
    output.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([py_spy(), "record", "-p", str(pid), "-f", "raw", "-r", "200",
                             "-o", str(output)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(recorder: subprocess.Popen[bytes]) -> None:
    recorder.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
    recorder.wait(timeout=60)


def summary(collapsed: Path, requests: int) -> str:
    """A Markdown table of where the samples went, with CPU ms a request."""
    stacks: Counter[str] = Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        # Only the event loop's thread serves requests; py-spy takes a thread blocked
        # in a Python-level Condition.wait (exporters, pools) for a busy one.
        if stack and "Thread._bootstrap (threading.py" not in stack.split(";", 1)[0]:
            stacks[stack] += int(count)
    # uvloop's loop is native: py-spy cannot tell it waiting in epoll from it running
    # (its and asyncpg's protocol code in C), so its own samples are mostly idle time.
    in_loop = sum(n for stack, n in stacks.items() if stack.rsplit(";", 1)[-1].startswith(
        EVENT_LOOP))
    stacks = Counter({stack: n for stack, n in stacks.items()
                      if not stack.rsplit(";", 1)[-1].startswith(EVENT_LOOP)})
    total = sum(stacks.values())
    if not total or not requests:
        return "(no samples)\n"
    per_request = total / 200 * 1000 / requests  # 200 samples a second
    lines = [f"{total} samples in Python code ({in_loop} more in the native event loop left"
             f" out), {per_request:.1f} ms a request over {requests} requests (on a loaded"
             " machine more than the process's CPU time: a thread waiting for a core counts)",
             "", "| step (inclusive) | share | ms a request |", "|---|---|---|"]
    for name, marker in STEPS.items():
        hits = sum(n for stack, n in stacks.items() if marker in stack)
        lines.append(f"| {name} | {hits / total:.0%} | {hits / total * per_request:.2f} |")
    lines += ["", "| library (self) | share | ms a request |", "|---|---|---|"]
    selves: Counter[str] = Counter()
    for stack, n in stacks.items():
        innermost = stack.rsplit(";", 1)[-1]
        owner = next((name for name, part in LIBRARIES.items() if part in innermost), "other")
        selves[owner] += n
    for name, n in selves.most_common():
        lines.append(f"| {name} | {n / total:.0%} | {n / total * per_request:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(summary(Path(sys.argv[1]), int(sys.argv[2])))
