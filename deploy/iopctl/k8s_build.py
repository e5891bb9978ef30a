"""The local Kubernetes control plane's binaries, built once from Go modules.

``deploy/k8s-local`` is a Go module pinning Kubernetes and etcd; ``go build``
makes etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kubectl
from it, and ``go install`` makes kwok, which plays the nodes and the pods. No
prebuilt binary is downloaded. They land in ``.iopnet/k8s/bin`` (minutes the
first time, progress lines meanwhile), with kwok's stage files next to them;
later calls return at once. ``IOPNET_K8S_BIN_DIR`` names a folder of binaries
built earlier (by another checkout, say) to use instead.

    python -m iopctl.k8s_build     # build if needed, print the folder
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from iopctl import paths
from iopctl.errors import InfraError, print_path_main
from iopctl.proc import run_logged
from iopctl.progress import say

COMPONENT = "k8s"
#: The Kubernetes release deploy/k8s-local/go.mod requires (keep in step).
K8S_VERSION = "v1.37.2"
KWOK_VERSION = "v0.8.0"
KWOK_MODULE = "sigs.k8s.io/kwok"
MODULE_DIR = paths.REPO_ROOT / "deploy" / "k8s-local"
#: Built from MODULE_DIR: the etcd main in ./etcd, the rest from k8s.io/kubernetes.
K8S_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
BINARIES = ("etcd", *K8S_COMMANDS, "kwok")
#: kwok's stages (node ready with a lease heartbeat; pods ready, Job pods complete,
#: deleted pods gone), from its module: kustomize/stage/<path>.
KWOK_STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)
ENV_OVERRIDE = "IOPNET_K8S_BIN_DIR"
STAMP = f"kubernetes {K8S_VERSION} kwok {KWOK_VERSION}"


def bin_dir() -> Path:
    override = os.environ.get(ENV_OVERRIDE)
    return Path(override) if override else paths.state_dir() / "k8s" / "bin"


def stages_dir(folder: Path | None = None) -> Path:
    return (folder or bin_dir()) / "kwok-stages"


def binary(name: str) -> Path:
    return bin_dir() / name


def built(folder: Path | None = None) -> bool:
    """Whether every binary and stage of this version is there."""
    folder = folder or bin_dir()
    stamp = folder / ".version"
    return (stamp.is_file() and stamp.read_text().strip() == STAMP
            and all(os.access(folder / name, os.X_OK) for name in BINARIES)
            and all((stages_dir(folder) / Path(s).name).is_file() for s in KWOK_STAGES))


def ensure_built() -> Path:
    """The folder of the binaries; builds them the first time (minutes)."""
    target = bin_dir()
    if built(target):
        return target
    if os.environ.get(ENV_OVERRIDE):
        raise InfraError(f"{COMPONENT}: {ENV_OVERRIDE}={target} lacks the binaries of {STAMP}")
    target.mkdir(parents=True, exist_ok=True)
    with (target / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building them right now
        if not built(target):
            _build(target)
    return target


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise InfraError(f"{COMPONENT}: `go` is not on PATH; cannot build Kubernetes "
                         f"{K8S_VERSION} (or set {ENV_OVERRIDE} to binaries built elsewhere)")
    return go


def version_ldflags() -> str:
    """The stamps Kubernetes' own build sets: a chart's kubeVersion constraint reads them."""
    major, minor, _ = K8S_VERSION.lstrip("v").split(".")
    stamps = {"gitVersion": K8S_VERSION, "gitMajor": major, "gitMinor": minor,
              "gitTreeState": "clean",
              "buildDate": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    flags = ["-s", "-w"]  # no symbol tables: a third smaller, links faster
    for package in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"):
        flags += [f"-X {package}.{key}={value}" for key, value in stamps.items()]
    return " ".join(flags)


def _build(target: Path) -> None:
    go = _go()
    log_path = paths.logs_dir() / "k8s-build.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    say(COMPONENT, f"building Kubernetes {K8S_VERSION}, etcd and kwok {KWOK_VERSION} from "
                   f"their Go modules (once, ~10 min on 2 cores; log: {log_path})")
    started = time.monotonic()
    # The Go on PATH builds them (no toolchain download), statically, into scratch first.
    env = {"GOTOOLCHAIN": "local", **os.environ, "CGO_ENABLED": "0",
           "GOFLAGS": "-mod=readonly -buildvcs=false"}
    with tempfile.TemporaryDirectory(dir=target, prefix=".build-") as scratch, \
            log_path.open("wb") as log:
        packages = ["./etcd", *(f"k8s.io/kubernetes/cmd/{c}" for c in K8S_COMMANDS)]
        run_logged(COMPONENT, [go, "build", "-v", "-o", f"{scratch}/", "-ldflags",
                               version_ldflags(), *packages],
                   log=log, log_path=log_path, env=env, cwd=MODULE_DIR, started=started)
        kwok_env = {**env, "GOBIN": scratch, "GOFLAGS": "-buildvcs=false"}  # not in a module
        run_logged(COMPONENT, [go, "install", "-v", "-ldflags", "-s -w",
                               f"{KWOK_MODULE}/cmd/kwok@{KWOK_VERSION}"],
                   log=log, log_path=log_path, env=kwok_env, cwd=Path(scratch), started=started)
        _copy_kwok_stages(go, Path(scratch), env)
        for name in BINARIES:
            os.replace(Path(scratch) / name, target / name)
        shutil.rmtree(stages_dir(target), ignore_errors=True)
        os.replace(stages_dir(Path(scratch)), stages_dir(target))
    (target / ".version").write_text(STAMP + "\n")
    size = sum((target / name).stat().st_size for name in BINARIES) / 2**20
    say(COMPONENT, f"built {len(BINARIES)} binaries ({size:.0f} MB) into {target} "
                   f"in {time.monotonic() - started:.0f}s")


def _copy_kwok_stages(go: str, scratch: Path, env: dict[str, str]) -> None:
    """kwok's stage files ship in its module, which ``go install`` just downloaded."""
    done = subprocess.run([go, "mod", "download", "-json", f"{KWOK_MODULE}@{KWOK_VERSION}"],
                          capture_output=True, text=True, env={**env, "GOFLAGS": ""},
                          cwd=scratch, timeout=600, check=False)
    if done.returncode != 0:
        raise InfraError(f"{COMPONENT}: cannot locate kwok's module: {done.stderr.strip()}")
    module = Path(json.loads(done.stdout)["Dir"])
    stages = stages_dir(scratch)
    stages.mkdir()
    for stage in KWOK_STAGES:
        copied = stages / Path(stage).name
        shutil.copyfile(module / "kustomize" / "stage" / stage, copied)
        copied.chmod(0o644)  # the module cache is read-only


if __name__ == "__main__":
    sys.exit(print_path_main(ensure_built))
