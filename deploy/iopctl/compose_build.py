"""A Compose v2 binary to check docker-compose.yml, built once from Compose's Go module.

No prebuilt binary is downloaded and no Docker is needed: ``go install`` refuses
Compose's module (its go.mod has ``exclude`` directives), so ``go mod download``
fetches the module through the Go module proxy and ``go build ./cmd`` runs in a
writable copy of it (the module cache is read-only). The binary lands next to
Helm's in ``.iopnet/bin/`` (about 3 minutes on 2 cores the first time, progress
lines meanwhile); every later call returns it at once. ``IOPNET_DOCKER_COMPOSE``
names another Compose v2 binary (``docker-compose``) to use instead.

    python -m iopctl.compose_build     # build if needed, print the binary's path
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from iopctl import go_tools, paths
from iopctl.errors import InfraError, print_path_main
from iopctl.proc import run_logged
from iopctl.progress import say

COMPONENT = "compose"
#: The newest Compose v2 release the Go module proxy serves under the /v2 path.
COMPOSE_VERSION = "v2.40.3"
COMPOSE_MODULE = "github.com/docker/compose/v2"
ENV_OVERRIDE = "IOPNET_DOCKER_COMPOSE"
BINARY = "docker-compose"


def cached_binary(version: str = COMPOSE_VERSION) -> Path | None:
    """The binary built earlier for ``version``, or None."""
    return go_tools.cached_binary(BINARY, version)


def compose_binary(version: str = COMPOSE_VERSION) -> Path:
    """The path of a Compose v2 binary; builds it the first time (minutes)."""
    return go_tools.built_once(BINARY, version, ENV_OVERRIDE,
                               lambda target: _build(version, target))


def _build(version: str, target: Path) -> Path:
    go = go_tools.go(COMPONENT, f"Compose {version}", ENV_OVERRIDE)
    log_path = paths.logs_dir() / "compose-build.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    say(COMPONENT, f"building Compose {version} from {COMPOSE_MODULE} "
                   f"(once, ~3 min on 2 idle cores; log: {log_path})")
    started = time.monotonic()
    env = go_tools.go_env(GOFLAGS="-mod=mod -buildvcs=false")
    with tempfile.TemporaryDirectory(dir=target, prefix=".build-") as scratch, \
            log_path.open("wb") as log:
        source = Path(scratch) / "src"
        shutil.copytree(_download(go, version, env, Path(scratch)), source)
        for folder, _, files in os.walk(source):  # the module cache's copy is read-only
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(Path(folder) / name, 0o644)
        output = Path(scratch) / BINARY
        ldflags = f"-s -w -X {COMPOSE_MODULE}/internal.Version={version}"
        run_logged(COMPONENT, [go, "build", "-v", "-trimpath", "-ldflags", ldflags,
                               "-o", str(output), "./cmd"],
                   log=log, log_path=log_path, env=env, cwd=source, started=started)
        binary = target / BINARY
        os.replace(output, binary)
    say(COMPONENT, f"built {binary} in {time.monotonic() - started:.0f}s")
    return binary


def _download(go: str, version: str, env: dict[str, str], cwd: Path) -> Path:
    """The module's folder in the Go module cache (downloaded through the proxy if needed)."""
    say(COMPONENT, f"go mod download {COMPOSE_MODULE}@{version}")
    done = subprocess.run([go, "mod", "download", "-json", f"{COMPOSE_MODULE}@{version}"],
                          capture_output=True, text=True, env={**env, "GOFLAGS": ""},
                          cwd=cwd, timeout=600, check=False)
    if done.returncode != 0:
        raise InfraError(f"{COMPONENT}: cannot download {COMPOSE_MODULE}@{version}: "
                         f"{done.stderr.strip() or done.stdout.strip()}")
    return Path(json.loads(done.stdout)["Dir"])


if __name__ == "__main__":
    sys.exit(print_path_main(compose_binary))
