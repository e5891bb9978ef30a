"""A Helm binary for the chart's offline checks, built once from Helm's Go module.

No prebuilt binary is downloaded: ``go install helm.sh/helm/v3/cmd/helm@<version>``
builds it through the Go module proxy into ``.iopnet/bin/`` (minutes the first
time, progress lines meanwhile), and every later call returns the cached binary
at once. ``IOPNET_HELM`` names another binary to use instead.

    python -m iopctl.helm          # build if needed, print the binary's path
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from iopctl import go_tools, paths
from iopctl.errors import print_path_main
from iopctl.proc import run_logged
from iopctl.progress import say

#: A Helm 3 release the Go module proxy serves (kept in step with the chart's apiVersion v2).
HELM_VERSION = "v3.22.0"
HELM_MODULE = "helm.sh/helm/v3/cmd/helm"
ENV_OVERRIDE = "IOPNET_HELM"


def cached_binary(version: str = HELM_VERSION) -> Path | None:
    """The binary built earlier for ``version``, or None."""
    return go_tools.cached_binary("helm", version)


def helm_binary(version: str = HELM_VERSION) -> Path:
    """The path of a Helm binary; builds it with ``go install`` the first time."""
    return go_tools.built_once("helm", version, ENV_OVERRIDE,
                               lambda target: _build(version, target))


def _build(version: str, target: Path) -> Path:
    go = go_tools.go("helm", f"Helm {version}", ENV_OVERRIDE)
    log_path = paths.logs_dir() / "helm-build.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    say("helm", f"building Helm {version} with `go install {HELM_MODULE}@{version}` "
                f"(once; log: {log_path})")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=target, prefix=".build-") as scratch, \
            log_path.open("wb") as log:
        # Into scratch first: a half-written binary is never taken for a built one.
        run_logged("helm", [go, "install", f"{HELM_MODULE}@{version}"], log=log,
                   log_path=log_path, env=go_tools.go_env(GOBIN=scratch), cwd=Path.cwd(),
                   started=started)
        binary = target / "helm"
        os.replace(Path(scratch) / "helm", binary)
    say("helm", f"built {binary} in {time.monotonic() - started:.0f}s")
    return binary


if __name__ == "__main__":
    sys.exit(print_path_main(helm_binary))
