"""A Helm binary for the chart's offline checks, built once from Helm's Go module.

No prebuilt binary is downloaded: ``go install helm.sh/helm/v3/cmd/helm@<version>``
builds it through the Go module proxy into ``.iopnet/bin/`` (minutes the first
time, progress lines meanwhile), and every later call returns the cached binary
at once. ``IOPNET_HELM`` names another binary to use instead.

    python -m iopctl.helm          # build if needed, print the binary's path
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from iopctl import paths
from iopctl.errors import InfraError, print_path_main
from iopctl.proc import run_logged
from iopctl.progress import say

#: A Helm 3 release the Go module proxy serves (kept in step with the chart's apiVersion v2).
HELM_VERSION = "v3.22.0"
HELM_MODULE = "helm.sh/helm/v3/cmd/helm"
ENV_OVERRIDE = "IOPNET_HELM"


def bin_dir() -> Path:
    return paths.state_dir() / "bin"


def _stamp(binary: Path) -> Path:
    return binary.with_name(binary.name + ".version")


def cached_binary(version: str = HELM_VERSION) -> Path | None:
    """The binary built earlier for ``version``, or None."""
    binary = bin_dir() / "helm"
    stamp = _stamp(binary)
    if binary.is_file() and os.access(binary, os.X_OK) and stamp.is_file() \
            and stamp.read_text().strip() == version:
        return binary
    return None


def helm_binary(version: str = HELM_VERSION) -> Path:
    """The path of a Helm binary; builds it with ``go install`` the first time."""
    override = os.environ.get(ENV_OVERRIDE)
    if override:
        return Path(override)
    found = cached_binary(version)
    if found is not None:
        return found
    target = bin_dir()
    target.mkdir(parents=True, exist_ok=True)
    with (target / ".helm.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it right now
        found = cached_binary(version)
        if found is not None:
            return found
        return _build(version, target)


def _build(version: str, target: Path) -> Path:
    go = shutil.which("go")
    if go is None:
        raise InfraError(f"helm: `go` is not on PATH; cannot build Helm {version} "
                         f"(or set {ENV_OVERRIDE} to a helm binary)")
    log_path = paths.logs_dir() / "helm-build.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    say("helm", f"building Helm {version} with `go install {HELM_MODULE}@{version}` "
                f"(once; log: {log_path})")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=target, prefix=".build-") as scratch, \
            log_path.open("wb") as log:
        # The Go on PATH builds it (no toolchain download), statically, into scratch first.
        env = {"GOTOOLCHAIN": "local", **os.environ, "GOBIN": scratch, "CGO_ENABLED": "0"}
        run_logged("helm", [go, "install", f"{HELM_MODULE}@{version}"], log=log,
                   log_path=log_path, env=env, cwd=Path.cwd(), started=started)
        binary = target / "helm"
        os.replace(Path(scratch) / "helm", binary)
    _stamp(binary).write_text(version + "\n")
    say("helm", f"built {binary} in {time.monotonic() - started:.0f}s")
    return binary


if __name__ == "__main__":
    sys.exit(print_path_main(helm_binary))
