"""A local Kubernetes control plane, without Docker: ``iopctl k8s up|down|status``.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler run as local
processes on loopback; kwok plays one fake Node and the kubelet's part (pods
become Ready, Job pods complete), so the chart is installed for real (admission,
ownership, hooks, rollouts, PDBs, HPAs) without running any container. The
binaries come from ``iopctl.k8s_build``. ``up`` writes a kubeconfig (``status``
says where) for kubectl and helm.

Ports (loopback, below the ephemeral range): the API server on 26443
(``IOPNET_K8S_PORT``), etcd on 22379 and 22380 (``IOPNET_ETCD_PORT``,
``IOPNET_ETCD_PEER_PORT``). The controller-manager and scheduler serve nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from iopctl import k8s_build, paths
from iopctl.actions import add_group
from iopctl.errors import InfraError
from iopctl.ports import HOST, env_port
from iopctl.proc import pid_alive, port_open, read_pid, tail_file
from iopctl.progress import say
from iopctl.status import ServiceStatus

COMPONENT = "k8s"
#: Start order; they stop in reverse, so the API server has exited before etcd stops.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
NODE_NAME = "kwok-node-0"
ADMIN_USER = "iopnet-admin"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
#: Room for the production values' pods and a rolling update's surge.
NODE_CAPACITY = {"cpu": "64", "memory": "256Gi", "pods": "250"}


@dataclass(frozen=True)
class Ports:
    apiserver: int
    etcd: int
    etcd_peer: int

    @classmethod
    def from_env(cls) -> Ports:
        return cls(apiserver=env_port("IOPNET_K8S_PORT", 26443),
                   etcd=env_port("IOPNET_ETCD_PORT", 22379),
                   etcd_peer=env_port("IOPNET_ETCD_PEER_PORT", 22380))


class ControlPlane:
    """The processes and files of one control plane, all below ``home``."""

    def __init__(self, home: Path, ports: Ports, bins: Path | None = None) -> None:
        self.home = home
        self.ports = ports
        self.bins = bins or k8s_build.bin_dir()

    @property
    def kubeconfig(self) -> Path:
        return self.home / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://{HOST}:{self.ports.apiserver}"

    def log(self, component: str) -> Path:
        return self.home / "logs" / f"{component}.log"

    def _pid_file(self, component: str) -> Path:
        return self.home / "run" / f"{component}.pid"

    def pid(self, component: str) -> int | None:
        pid = read_pid(self._pid_file(component))
        return pid if pid is not None and pid_alive(pid, component) else None

    # --- up -------------------------------------------------------------------

    def up(self) -> None:
        if self.pid("kube-apiserver") is not None and self.ready():
            say(COMPONENT, f"already running: {self.server} (kubeconfig {self.kubeconfig})")
            return
        self.down(quiet=True)  # whatever is left of an earlier run
        taken = [port for port in vars(self.ports).values() if port_open(HOST, port)]
        if taken:
            raise InfraError(f"{COMPONENT}: something else listens on {HOST}:{taken[0]} "
                             "(another checkout's control plane?); IOPNET_K8S_PORT, "
                             "IOPNET_ETCD_PORT and IOPNET_ETCD_PEER_PORT move this one")
        for folder in ("logs", "run", "pki", "etcd"):
            (self.home / folder).mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            self._start_all()
        except BaseException:
            self.down(quiet=True)  # nothing half-started stays behind
            raise
        say(COMPONENT, f"ready in {time.monotonic() - started:.1f}s: {self.server}; "
                       f"export KUBECONFIG={self.kubeconfig}")

    def _start_all(self) -> None:
        token = self._credentials()
        self._start("etcd", self._etcd_args())
        self._wait("etcd", self._etcd_healthy)
        self._start("kube-apiserver", self._apiserver_args())
        self._wait("kube-apiserver", self.ready)
        self._write_kubeconfig(token)
        self._start("kube-controller-manager", self._controller_manager_args())
        self._start("kube-scheduler", self._scheduler_args())
        self._start("kwok", self._kwok_args())
        self._add_node()
        self._wait("kwok", self._node_ready)

    def _credentials(self) -> str:
        """A fresh admin token each start, and the service-account signing key once."""
        token = secrets.token_hex(24)
        (self.home / "pki" / "tokens.csv").write_text(
            f'{token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
        key_file = self.home / "pki" / "sa.key"
        if not key_file.exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            key_file.write_bytes(key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
            (self.home / "pki" / "sa.pub").write_bytes(key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        return token

    def _etcd_args(self) -> list[str]:
        client = f"http://{HOST}:{self.ports.etcd}"
        peer = f"http://{HOST}:{self.ports.etcd_peer}"
        return ["--name=local", f"--data-dir={self.home / 'etcd'}",
                f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=local={peer}",
                # A throwaway cluster: no fsync, so a busy shared disk does not stall it.
                "--unsafe-no-fsync=true", "--log-level=warn"]

    def _apiserver_args(self) -> list[str]:
        pki = self.home / "pki"
        return [f"--etcd-servers=http://{HOST}:{self.ports.etcd}",
                f"--bind-address={HOST}", f"--advertise-address={HOST}",
                f"--secure-port={self.ports.apiserver}", f"--cert-dir={pki / 'serving'}",
                f"--token-auth-file={pki / 'tokens.csv'}", "--authorization-mode=Node,RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--service-cluster-ip-range=10.96.0.0/16",
                # On loopback the default reconciler rejects the advertise address.
                "--endpoint-reconciler-type=none"]

    def _controller_manager_args(self) -> list[str]:
        return [f"--kubeconfig={self.kubeconfig}", "--leader-elect=false", "--secure-port=0",
                f"--service-account-private-key-file={self.home / 'pki' / 'sa.key'}",
                f"--root-ca-file={self.home / 'pki' / 'serving' / 'apiserver.crt'}",
                # Without a metrics server the HPAs only enforce their bounds: do it soon.
                "--horizontal-pod-autoscaler-sync-period=5s"]

    def _scheduler_args(self) -> list[str]:
        return [f"--kubeconfig={self.kubeconfig}", "--leader-elect=false", "--secure-port=0"]

    def _kwok_args(self) -> list[str]:
        stages = sorted(str(p) for p in k8s_build.stages_dir(self.bins).glob("*.yaml"))
        return [f"--kubeconfig={self.kubeconfig}", "--manage-all-nodes=true",
                f"--config={','.join(stages)}", "--node-lease-duration-seconds=40",
                "--node-port=0"]

    def _start(self, component: str, args: Sequence[str]) -> None:
        binary = self.bins / component
        log = self.log(component)
        with log.open("ab") as out:
            process = subprocess.Popen([str(binary), *args], stdin=subprocess.DEVNULL,
                                       stdout=out, stderr=subprocess.STDOUT,
                                       cwd=self.home, start_new_session=True)
        self._pid_file(component).write_text(f"{process.pid}\n")
        say(COMPONENT, f"{component} started (pid {process.pid}, log {log})")

    def _wait(self, component: str, check: Callable[[], bool]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not check():
            problem = ("exited" if self.pid(component) is None else
                       f"not ready after {START_TIMEOUT_S:.0f}s"
                       if time.monotonic() > deadline else None)
            if problem:
                raise InfraError(f"{COMPONENT}: {component} {problem}\n"
                                 f"{tail_file(self.log(component))}")
            time.sleep(0.2)

    def _etcd_healthy(self) -> bool:
        return _get(f"http://{HOST}:{self.ports.etcd}/health") is not None

    def ready(self) -> bool:
        """The API server answers /readyz (it needs no credentials for it)."""
        return _get(f"{self.server}/readyz") == "ok"

    def _write_kubeconfig(self, token: str) -> None:
        """JSON is YAML: kubectl and helm read it. The serving certificate is self-signed."""
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "iopnet-local",
            "clusters": [{"name": "iopnet-local", "cluster": {
                "server": self.server,
                "certificate-authority": str(self.home / "pki" / "serving" / "apiserver.crt")}}],
            "users": [{"name": ADMIN_USER, "user": {"token": token}}],
            "contexts": [{"name": "iopnet-local", "context": {
                "cluster": "iopnet-local", "user": ADMIN_USER}}],
        }
        self.kubeconfig.write_text(json.dumps(config, indent=2) + "\n")
        self.kubeconfig.chmod(0o600)

    def _add_node(self) -> None:
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {
            "name": NODE_NAME,
            "annotations": {"kwok.x-k8s.io/node": "fake"},
            "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux",
                       "kubernetes.io/arch": "amd64", "type": "kwok",
                       "topology.kubernetes.io/zone": "local-a"}},
            "status": {"capacity": NODE_CAPACITY, "allocatable": NODE_CAPACITY}}
        self.kubectl("apply", "-f", "-", stdin=json.dumps(node))

    def _node_ready(self) -> bool:
        jsonpath = '{.status.conditions[?(@.type=="Ready")].status}'
        done = self.kubectl("get", "node", NODE_NAME, "-o", f"jsonpath={jsonpath}",
                            check=False)
        return done.stdout.strip() == "True"

    def kubectl(self, *args: str, stdin: str | None = None,
                check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(self.bins / "kubectl"), f"--kubeconfig={self.kubeconfig}",
                               *args], input=stdin, capture_output=True, text=True,
                              timeout=120, check=False)
        if check and done.returncode != 0:
            raise InfraError(f"{COMPONENT}: kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done

    # --- down, status -----------------------------------------------------------

    def down(self, quiet: bool = False) -> None:
        for component in reversed(COMPONENTS):
            pid = self.pid(component)
            if pid is None:
                self._pid_file(component).unlink(missing_ok=True)
                continue
            if not quiet:
                say(COMPONENT, f"stopping {component} (pid {pid})")
            _stop(pid, component)
            self._pid_file(component).unlink(missing_ok=True)

    def status(self) -> list[ServiceStatus]:
        statuses = []
        for component in COMPONENTS:
            pid = self.pid(component)
            healthy = pid is not None and (component != "kube-apiserver" or self.ready())
            endpoint = {"etcd": f"http://{HOST}:{self.ports.etcd}",
                        "kube-apiserver": self.server}.get(component, "")
            statuses.append(ServiceStatus(
                name=component, running=pid is not None, healthy=healthy, endpoint=endpoint,
                detail=f"pid {pid}" if pid else "not running",
                places=(("log", self.log(component)),)))
        return statuses


def _stop(pid: int, component: str) -> None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while pid_alive(pid, component):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + STOP_TIMEOUT_S
        time.sleep(0.1)


def _get(url: str) -> str | None:
    """The body of a GET, or None when nothing answers it with 200."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # a readiness probe on loopback, no credentials sent
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            body: bytes = response.read()
            return body.decode()
    except (urllib.error.URLError, OSError):
        return None


def local() -> ControlPlane:
    """The control plane ``iopctl k8s`` runs, in ``.iopnet/k8s``."""
    return ControlPlane(paths.state_dir() / "k8s", Ports.from_env())


# --- the command line -----------------------------------------------------------

def _up(_: argparse.Namespace) -> int:
    k8s_build.ensure_built()
    plane = local()
    plane.up()
    print(f"  kube-apiserver  {plane.server}")
    print(f"  kubeconfig      {plane.kubeconfig}")
    print(f"  kubectl         {plane.bins / 'kubectl'}", flush=True)
    return 0


def _down(_: argparse.Namespace) -> int:
    local().down()
    return 0


def _status(_: argparse.Namespace) -> int:
    plane = local()
    statuses = plane.status()
    for status in statuses:
        print(status.line())
    print(f"kubeconfig {plane.kubeconfig}")
    return 0 if all(s.healthy for s in statuses) else 3


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_group(subparsers, "k8s", "local Kubernetes with kwok's fake node (no Docker)", (
        ("up", _up, "build the binaries once, start the control plane, write a kubeconfig"),
        ("down", _down, "stop kwok, the scheduler, the controller-manager, the API server, etcd"),
        ("status", _status, "show each process; exit 0 only when all are healthy"),
    ))
