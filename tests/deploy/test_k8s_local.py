"""What ``iopctl k8s`` builds and installs stays in step: the Go module, the stamps, the CRDs."""

from __future__ import annotations

import re

import pytest
import yaml

from iopctl import k8s_build
from iopctl.cli import build_parser
from iopctl.paths import REPO_ROOT

pytestmark = pytest.mark.unit

CRDS = REPO_ROOT / "deploy" / "k8s-local" / "crds"
#: The kinds the chart renders, as the chart's production values ask for them.
CHART_KINDS = {"KafkaTopic": "kafka.strimzi.io/v1", "ServiceMonitor": "monitoring.coreos.com/v1",
               "PodMonitor": "monitoring.coreos.com/v1",
               "PrometheusRule": "monitoring.coreos.com/v1"}


def test_the_commands_are_registered() -> None:
    for action in ("up", "down", "status"):
        args = build_parser().parse_args(["k8s", action])
        assert args.handler.__module__ == "iopctl.k8s"


def test_the_go_module_pins_the_release_and_each_staging_module_at_its_version() -> None:
    go_mod = (k8s_build.MODULE_DIR / "go.mod").read_text()
    assert re.search(rf"^\s+k8s\.io/kubernetes {re.escape(k8s_build.K8S_VERSION)}$", go_mod,
                     re.MULTILINE)
    staging = "v0." + k8s_build.K8S_VERSION.removeprefix("v1.")
    replaces = re.findall(r"^\s+(k8s\.io/\S+) => (k8s\.io/\S+) (\S+)$", go_mod, re.MULTILINE)
    assert len(replaces) == 33
    assert all(old == new and version == staging for old, new, version in replaces)
    assert (k8s_build.MODULE_DIR / "go.sum").is_file()


def test_the_binaries_carry_the_release_version_the_charts_kube_version_reads() -> None:
    flags = k8s_build.version_ldflags().split(" -X ")
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"{package}.gitVersion={k8s_build.K8S_VERSION}" in flags
        assert f"{package}.gitMajor=1" in flags
        assert f"{package}.gitMinor=37" in flags


def test_the_vendored_crds_serve_the_versions_the_chart_uses() -> None:
    served: dict[str, set[str]] = {}
    for path in CRDS.glob("*.yaml"):
        (crd,) = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        assert crd["kind"] == "CustomResourceDefinition", path.name
        spec = crd["spec"]
        served[spec["names"]["kind"]] = {f"{spec['group']}/{v['name']}"
                                         for v in spec["versions"] if v["served"]}
    for kind, api_version in CHART_KINDS.items():
        assert api_version in served[kind], kind
