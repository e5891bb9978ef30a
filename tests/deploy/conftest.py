"""Tools the deployment checks share, built once from Go modules with their progress shown."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from iopctl import compose_build, k8s_build
from iopctl.helm import ENV_OVERRIDE as HELM_OVERRIDE
from iopctl.helm import HELM_VERSION, cached_binary, helm_binary


def built_live(request: pytest.FixtureRequest, what: str, build: Callable[[], Path]) -> Path:
    """``build()``, with its progress lines shown as they come instead of captured."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    started = time.monotonic()
    with capture.global_and_fixture_disabled():
        print(f"\nbuilding {what} once; later runs reuse it", flush=True)
        made = build()
        print(f"{what} ready in {time.monotonic() - started:.0f}s: {made}", flush=True)
    return made


@pytest.fixture(scope="session")
def helm(request: pytest.FixtureRequest) -> Path:
    """The Helm binary; the first run builds it (minutes)."""
    if cached_binary() is not None or os.environ.get(HELM_OVERRIDE):
        return helm_binary()
    return built_live(request, f"Helm {HELM_VERSION} (go install)", helm_binary)


@pytest.fixture(scope="session")
def docker_compose(request: pytest.FixtureRequest) -> Path:
    """A Compose v2 binary (``docker-compose``); the first run builds it (minutes).

    A failed build fails the tests that need it: a newcomer's ``make test`` builds it too.
    """
    if compose_build.cached_binary() is not None or os.environ.get(compose_build.ENV_OVERRIDE):
        return compose_build.compose_binary()
    return built_live(request, f"Compose {compose_build.COMPOSE_VERSION} (go build)",
                      compose_build.compose_binary)


@pytest.fixture(scope="session")
def k8s_binaries(request: pytest.FixtureRequest) -> Path:
    """etcd, the Kubernetes control plane, kubectl and kwok; the first run builds them."""
    if k8s_build.built():
        return k8s_build.bin_dir()
    return built_live(request, f"Kubernetes {k8s_build.K8S_VERSION} and kwok (go build)",
                      k8s_build.ensure_built)
