"""The chart installed into a real Kubernetes API server (``iopctl k8s``), not only rendered.

The control plane runs from binaries built once from Go modules (``make k8s``,
or the first run of these tests): etcd, kube-apiserver, the controller-manager
and the scheduler, with kwok playing one node, so pods become Ready and Job
pods complete without any container running. The API server does what schemas
cannot: admission, namespaces, ownership of kept objects, hooks, rollouts,
PodDisruptionBudgets and HPAs. The real CRDs (Strimzi's KafkaTopic, the
Prometheus Operator's kinds) are installed from ``deploy/k8s-local/crds``.

The tests run in order, on one release: dry run, install, upgrade, network
policies, uninstall and reinstall under another name.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from iopctl.k8s import ControlPlane, Ports
from iopctl.k8s_build import K8S_VERSION
from iopctl.paths import REPO_ROOT
from iopnet.topics import SERVICES

CHART = REPO_ROOT / "deploy" / "helm" / "iopnet"
PRODUCTION_VALUES = REPO_ROOT / "deploy" / "helm" / "values-production.yaml"
CRDS = REPO_ROOT / "deploy" / "k8s-local" / "crds"
NAMESPACE = "iopnet"
KAFKA_NAMESPACE = "kafka"
RELEASE = "iopnet"
OTHER_RELEASE = "iopnet-again"
ROLES = ("api", "worker")
#: Changed by the upgrade: a new image, more replicas, a new setting.
UPGRADE = ("--set", "image.tag=0.1.1", "--set", "worker.replicas=3",
           "--set", "api.autoscaling.minReplicas=4",
           "--set", "api.podDisruptionBudget.maxUnavailable=2",
           "--set-json", 'extraEnv=[{"name": "IOPNET_DB_POOL_SIZE", "value": "20"}]')

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Cluster:
    plane: ControlPlane
    helm_binary: Path
    helm_home: Path

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.plane.kubectl(*args, stdin=stdin, check=False)

    def helm(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.plane.kubeconfig),
               **{f"HELM_{kind}_HOME": str(self.helm_home / kind.lower())
                  for kind in ("CACHE", "CONFIG", "DATA")}}
        return subprocess.run([str(self.helm_binary), *args], capture_output=True, text=True,
                              env=env, timeout=600, check=False)

    def install(self, release: str, *values: str) -> subprocess.CompletedProcess[str]:
        return self.helm("upgrade", "--install", release, str(CHART), "-n", NAMESPACE,
                         "-f", str(PRODUCTION_VALUES), *values,
                         "--wait", "--wait-for-jobs", "--timeout", "5m")

    def items(self, kind: str, namespace: str = NAMESPACE, selector: str = "") -> list[Manifest]:
        args = ["get", kind, "-n", namespace, "-o", "json"]
        done = self.kubectl(*args, *(["-l", selector] if selector else []))
        assert done.returncode == 0, done.stderr
        items: list[Manifest] = json.loads(done.stdout)["items"]
        return items

    def named(self, kind: str, release: str = RELEASE,
              namespace: str = NAMESPACE) -> dict[str, Manifest]:
        found = self.items(kind, namespace, selector=f"app.kubernetes.io/instance={release}")
        return {item["metadata"]["name"]: item for item in found}

    def hook_phases(self, release: str, namespace: str = NAMESPACE) -> dict[str, str]:
        status = json.loads(ok(self.helm("status", release, "-n", namespace, "-o", "json")))
        assert status["info"]["status"] == "deployed"
        return {hook["name"]: hook["last_run"]["phase"] for hook in status["hooks"]}


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def loopback_ports(count: int) -> list[int]:
    """Free ports below the ephemeral range (a probe of a port in it can connect to itself)."""
    found: list[int] = []
    while len(found) < count:
        port = random.randrange(20000, 32000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        if port not in found:
            found.append(port)
    return found


@pytest.fixture(scope="module")
def cluster(k8s_binaries: Path, helm: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    home = tmp_path_factory.mktemp("k8s")
    plane = ControlPlane(home / "plane", Ports(*loopback_ports(3)), k8s_binaries)
    try:
        plane.up()
        made = Cluster(plane, helm, home / "helm")
        ok(made.kubectl("apply", "--server-side", "-f", str(CRDS)))
        ok(made.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"))
        for namespace in (NAMESPACE, KAFKA_NAMESPACE):
            ok(made.kubectl("create", "namespace", namespace))
        yield made
    finally:
        plane.down()


def eventually(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout:.0f}s: {what}"
        time.sleep(0.5)


def condition(item: Manifest, kind: str) -> str | None:
    for entry in item.get("status", {}).get("conditions", []):
        if entry["type"] == kind:
            status: str = entry["status"]
            return status
    return None


def selects(selector: Manifest, labels: dict[str, str]) -> bool:
    """Whether a LabelSelector selects an object with ``labels``."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, values = expression["key"], expression.get("values", [])
        present = key in labels
        holds = {"In": present and labels[key] in values,
                 "NotIn": not present or labels[key] not in values,
                 "Exists": present, "DoesNotExist": not present}[expression["operator"]]
        if not holds:
            return False
    return True


def deployment_names(release: str) -> set[str]:
    return {f"{release}-{service}-{role}" for service in SERVICES for role in ROLES}


def assert_rolled_out(cluster: Cluster, release: str, image_tag: str,
                      namespace: str = NAMESPACE) -> None:
    """Every Deployment Available, all its replicas updated and ready, on ``image_tag``."""
    deployments = cluster.named("deployments", release, namespace)
    assert set(deployments) == deployment_names(release)
    for name, deployment in deployments.items():
        status, wanted = deployment["status"], deployment["spec"]["replicas"]
        assert condition(deployment, "Available") == "True", name
        assert status.get("updatedReplicas") == status.get("readyReplicas") == wanted, name
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image.endswith(f":{image_tag}"), name


# --- before installing ------------------------------------------------------------

@pytest.mark.parametrize("values", [[], ["-f", str(PRODUCTION_VALUES)]],
                         ids=["default", "production"])
def test_the_rendered_chart_is_accepted_by_a_server_side_dry_run_without_warnings(
        cluster: Cluster, values: list[str]) -> None:
    rendered = ok(cluster.helm("template", RELEASE, str(CHART), "-n", NAMESPACE,
                               "--kube-version", K8S_VERSION, *values))
    documents = [doc for doc in yaml.safe_load_all(rendered) if doc]
    for doc in documents:  # as Helm does; the KafkaTopics name a namespace of their own
        doc["metadata"].setdefault("namespace", NAMESPACE)
    done = cluster.kubectl("apply", "--dry-run=server", "-f", "-",
                           stdin=yaml.safe_dump_all(documents))
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", "warnings:\n" + done.stderr
    kinds = {doc["kind"] for doc in documents}
    if values:
        assert {"KafkaTopic", "ServiceMonitor", "PodMonitor", "PrometheusRule"} <= kinds


def test_a_missing_topic_namespace_fails_the_install_naming_the_value(cluster: Cluster) -> None:
    done = cluster.helm("install", RELEASE, str(CHART), "-n", NAMESPACE, "--dry-run=server",
                        "-f", str(PRODUCTION_VALUES),
                        "--set", "kafka.topics.strimzi.namespace=strimzi-elsewhere")
    assert done.returncode != 0
    assert "kafka.topics.strimzi.namespace" in done.stderr, done.stderr
    assert '"strimzi-elsewhere" does not exist' in done.stderr, done.stderr


def test_a_kind_the_cluster_does_not_serve_fails_the_install_naming_the_value(
        cluster: Cluster) -> None:
    """Strimzi 1.x serves KafkaTopic as v1 only, so v1beta2 stands for a missing CRD."""
    done = cluster.helm("install", RELEASE, str(CHART), "-n", NAMESPACE, "--dry-run=server",
                        "-f", str(PRODUCTION_VALUES),
                        "--set", "kafka.topics.strimzi.apiVersion=kafka.strimzi.io/v1beta2")
    assert done.returncode != 0
    assert "kafka.strimzi.io/v1beta2/KafkaTopic is not served by this cluster" in done.stderr
    assert "kafka.topics.strimzi.enabled=false" in done.stderr, done.stderr


# --- install, upgrade -------------------------------------------------------------

def test_install_with_production_values_runs_the_hooks_and_every_deployment_is_available(
        cluster: Cluster) -> None:
    ok(cluster.install(RELEASE))
    assert cluster.hook_phases(RELEASE) == {
        f"{RELEASE}-{service}-migrate": "Succeeded" for service in SERVICES}
    assert_rolled_out(cluster, RELEASE, "0.1.0")
    topics = cluster.items("kafkatopics", KAFKA_NAMESPACE)
    assert len(topics) == 6
    assert all(t["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep" for t in topics)


def hpa_bounds(cluster: Cluster) -> dict[str, tuple[int, int]]:
    return {name: (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"])
            for name, hpa in cluster.named("horizontalpodautoscalers").items()}


def replicas_reach(cluster: Cluster, wanted: Callable[[str], int]) -> Callable[[], bool]:
    def check() -> bool:
        deployments = cluster.named("deployments")
        return all(d["spec"]["replicas"] == wanted(name)
                   and d["status"].get("readyReplicas") == wanted(name)
                   for name, d in deployments.items())
    return check


def budgets_hold(cluster: Cluster, wanted: Callable[[str], int],
                 unavailable: Callable[[str], int]) -> Callable[[], bool]:
    """Each PDB sees all its pods healthy and allows its maxUnavailable disruptions."""
    def check() -> bool:
        budgets = cluster.named("poddisruptionbudgets")
        return len(budgets) == 2 * len(SERVICES) and all(
            pdb["status"].get("expectedPods") == wanted(name)
            and pdb["status"].get("currentHealthy") == wanted(name)
            and pdb["status"].get("disruptionsAllowed") == unavailable(name)
            for name, pdb in budgets.items())
    return check


def test_the_hpas_scale_the_apis_to_their_minimum_and_the_budgets_hold(
        cluster: Cluster) -> None:
    assert hpa_bounds(cluster) == {
        f"{RELEASE}-{service}-api": (3, 15 if service == "intake" else 10)
        for service in SERVICES}
    def replicas(name: str) -> int:
        return 3 if name.endswith("-api") else 2
    eventually(replicas_reach(cluster, replicas), "the HPAs scale each API to 3")
    eventually(budgets_hold(cluster, replicas, lambda _: 1), "every PDB allows 1 disruption")


def test_upgrade_rolls_out_a_new_image_replicas_and_setting(cluster: Cluster) -> None:
    ok(cluster.install(RELEASE, *UPGRADE))
    def replicas(name: str) -> int:
        return 4 if name.endswith("-api") else 3
    eventually(replicas_reach(cluster, replicas), "4 API and 3 worker replicas")
    assert_rolled_out(cluster, RELEASE, "0.1.1")
    assert all(bounds[0] == 4 for bounds in hpa_bounds(cluster).values())
    pods = cluster.items("pods", selector=f"app.kubernetes.io/instance={RELEASE}")
    assert len(pods) == sum(replicas(name) for name in deployment_names(RELEASE))
    for pod in pods:
        (container,) = pod["spec"]["containers"]
        assert container["image"].endswith(":0.1.1"), pod["metadata"]["name"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["IOPNET_DB_POOL_SIZE"] == "20", pod["metadata"]["name"]
    eventually(budgets_hold(cluster, replicas, lambda n: 2 if n.endswith("-api") else 1),
               "the API budgets allow 2 disruptions, the workers' 1")


# --- network policies -------------------------------------------------------------

def hook_pod_labels(cluster: Cluster) -> list[dict[str, str]]:
    """The labels of the hook Jobs' pods (deleted once they succeed), from the release."""
    hooks = ok(cluster.helm("get", "hooks", RELEASE, "-n", NAMESPACE))
    jobs = [doc for doc in yaml.safe_load_all(hooks) if doc and doc["kind"] == "Job"]
    assert jobs
    return [job["spec"]["template"]["metadata"]["labels"] for job in jobs]


def test_the_network_policies_select_the_pods_they_claim(cluster: Cluster) -> None:
    policies = {name.removeprefix(f"{RELEASE}-"): policy["spec"]
                for name, policy in cluster.named("networkpolicies").items()}
    assert set(policies) == {"egress", "api-ingress", "worker-ingress", "deny-ingress"}
    pods = cluster.items("pods", selector=f"app.kubernetes.io/instance={RELEASE}")
    by_role = {role: [p for p in pods
                      if p["metadata"]["labels"]["app.kubernetes.io/component"] == role]
               for role in ROLES}
    assert all(by_role.values())

    def selected(policy: str, candidates: list[Manifest]) -> list[bool]:
        return [selects(policies[policy]["podSelector"], p["metadata"]["labels"])
                for p in candidates]

    assert all(selected("egress", pods))
    assert all(selected("api-ingress", by_role["api"]))
    assert not any(selected("api-ingress", by_role["worker"]))
    assert all(selected("worker-ingress", by_role["worker"]))
    assert not any(selected("worker-ingress", by_role["api"]))
    assert not any(selected("deny-ingress", pods))
    assert all(selects(policies["deny-ingress"]["podSelector"], labels)
               for labels in hook_pod_labels(cluster))

    def open_ports(policy: str) -> set[int]:
        return {port["port"] for rule in policies[policy]["ingress"] for port in rule["ports"]}

    def container_ports(candidates: list[Manifest]) -> set[int]:
        return {port["containerPort"] for p in candidates
                for port in p["spec"]["containers"][0]["ports"]}

    assert open_ports("api-ingress") == container_ports(by_role["api"])
    assert open_ports("worker-ingress") == container_ports(by_role["worker"])
    assert policies["deny-ingress"].get("ingress") is None  # no rule: nothing gets in

    (dns, *_) = policies["egress"]["egress"]
    (peer,) = dns["to"]
    (kube_system,) = cluster.items("namespaces", selector="kubernetes.io/metadata.name="
                                   "kube-system")
    assert selects(peer["namespaceSelector"], kube_system["metadata"]["labels"])


# --- uninstall, reinstall ---------------------------------------------------------

def test_uninstall_keeps_the_topics_and_another_release_installs_over_them(
        cluster: Cluster) -> None:
    ok(cluster.helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "2m"))
    assert not cluster.named("deployments")
    kept = {t["metadata"]["name"]: t for t in cluster.items("kafkatopics", KAFKA_NAMESPACE)}
    assert len(kept) == 6

    installed = ok(cluster.install(OTHER_RELEASE))
    assert_rolled_out(cluster, OTHER_RELEASE, "0.1.0")
    for name, topic in kept.items():
        assert f"KafkaTopic {KAFKA_NAMESPACE}/{name} exists and belongs to release {RELEASE}" \
            in installed, installed
        now = cluster.kubectl("get", "kafkatopic", name, "-n", KAFKA_NAMESPACE, "-o", "json")
        assert json.loads(ok(now))["metadata"]["uid"] == topic["metadata"]["uid"], name
    ok(cluster.helm("uninstall", OTHER_RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "2m"))


def test_with_the_default_values_the_topic_job_and_the_migrations_complete(
        cluster: Cluster) -> None:
    namespace = "iopnet-defaults"
    ok(cluster.kubectl("create", "namespace", namespace))
    ok(cluster.helm("install", RELEASE, str(CHART), "-n", namespace,
                    "--wait", "--wait-for-jobs", "--timeout", "5m"))
    assert cluster.hook_phases(RELEASE, namespace) == {
        f"{RELEASE}-topics": "Succeeded",
        **{f"{RELEASE}-{service}-migrate": "Succeeded" for service in SERVICES}}
    assert_rolled_out(cluster, RELEASE, "0.1.0", namespace)
    ok(cluster.helm("uninstall", RELEASE, "-n", namespace, "--wait", "--timeout", "2m"))
