"""Single binaries built once from Go modules into ``.iopnet/bin/`` (Helm, Compose).

Each lands next to a stamp naming its version; a later call finds it at once. A
lock lets two processes ask at the same time and build it only once. An
environment variable per tool names another binary to use instead.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from iopctl import paths
from iopctl.errors import InfraError


def bin_dir() -> Path:
    return paths.state_dir() / "bin"


def _stamp(binary: Path) -> Path:
    return binary.with_name(binary.name + ".version")


def cached_binary(name: str, version: str) -> Path | None:
    """The binary ``name`` built earlier for ``version``, or None."""
    binary = bin_dir() / name
    stamp = _stamp(binary)
    if binary.is_file() and os.access(binary, os.X_OK) and stamp.is_file() \
            and stamp.read_text().strip() == version:
        return binary
    return None


def built_once(name: str, version: str, override_env: str,
               build: Callable[[Path], Path]) -> Path:
    """The binary: ``$override_env``, the cached one, or ``build(bin_dir())``'s (stamped)."""
    override = os.environ.get(override_env)
    if override:
        return Path(override)
    found = cached_binary(name, version)
    if found is not None:
        return found
    target = bin_dir()
    target.mkdir(parents=True, exist_ok=True)
    with (target / f".{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it right now
        found = cached_binary(name, version)
        if found is not None:
            return found
        binary = build(target)
        _stamp(binary).write_text(version + "\n")
        return binary


def go(component: str, what: str, override_env: str) -> str:
    """The Go on PATH, or an error saying what cannot be built without it."""
    found = shutil.which("go")
    if found is None:
        raise InfraError(f"{component}: `go` is not on PATH; cannot build {what} "
                         f"(or set {override_env} to a binary built elsewhere)")
    return found


def go_env(**more: str) -> dict[str, str]:
    """The Go on PATH builds it (no toolchain download), statically."""
    return {"GOTOOLCHAIN": "local", **os.environ, "CGO_ENABLED": "0", **more}
