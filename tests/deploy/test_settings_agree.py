"""docker-compose.yml, the Helm chart and the local runner give each service what it reads.

What a process reads comes from the code: its settings class's fields (prefix
``IOPNET_``), the topic namespace, and for the APIs the operator keys the guard
reads. Every source must give every process the settings a deployment must set
(``ServiceSettings.deployment_required``); compose and the chart give no
``IOPNET_*`` name the process does not read (a typo, a leftover, a secret where it
is not needed). The local runner hands one environment to every process, so its
names need only be read by some service. A failure lists the names by source,
service and role.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Set
from pathlib import Path
from typing import Any

import pytest
import yaml

from iopctl.stack import Stack, spec_of
from iopnet.auth.guard import OPERATOR_DIGESTS_ENV, OPERATOR_KEY_ENV
from iopnet.settings import ServiceSettings
from iopnet.topics import NAMESPACE_ENV, SERVICES
from tests.deploy.test_manifests import (
    CHART,
    COMPOSE_FILE,
    KUBE_VERSION,
    NAMESPACE,
    RELEASE,
    VALUES,
    run_helm,
)

PREFIX = "IOPNET_"
ROLES = ("migrate", "api", "worker")
#: Read by the settings' local defaults (shared/iopnet/settings.py), by every process.
LOCAL_PORT_VARIABLES = frozenset({"IOPNET_PG_PORT", "IOPNET_KAFKA_PORT"})

#: (service, role) -> the IOPNET_* names given to that process.
Given = Mapping[tuple[str, str], Set[str]]


def settings_class(service: str) -> type[ServiceSettings]:
    settings = spec_of(service).settings
    assert isinstance(settings, type) and issubclass(settings, ServiceSettings), service
    return settings


def variable(settings: type[ServiceSettings], field: str) -> str:
    return f"{settings.model_config.get('env_prefix', '')}{field}".upper()


def reads(service: str, role: str) -> frozenset[str]:
    """Every IOPNET_* variable a process of ``service`` in ``role`` reads."""
    settings = settings_class(service)
    names = {variable(settings, field) for field in settings.model_fields}
    names |= LOCAL_PORT_VARIABLES | {NAMESPACE_ENV}
    if role == "api":
        names |= {OPERATOR_KEY_ENV, OPERATOR_DIGESTS_ENV}
    return frozenset(names)


#: A migration runs as the schema's owner: ``migration_database_url``, which falls back to
#: ``database_url`` (shared/iopnet/settings.py), stands in for it.
STANDS_IN = {"migrate": {"IOPNET_DATABASE_URL": "IOPNET_MIGRATION_DATABASE_URL"}}


def required(service: str) -> frozenset[str]:
    settings = settings_class(service)
    return frozenset(variable(settings, field) for field in settings.deployment_required)


def missing(service: str, role: str, names: Set[str]) -> frozenset[str]:
    stand_ins = STANDS_IN.get(role, {})
    return frozenset(name for name in required(service) - names
                     if stand_ins.get(name) not in names)


def disagreements(source: str, given: Given, *, shared_environment: bool = False) -> list[str]:
    """One line per process that lacks a required setting or gets a name nothing reads.

    ``shared_environment``: one environment goes to every process, so a name need only
    be read by some service.
    """
    read_anywhere = frozenset().union(*(reads(s, r) for s in SERVICES for r in ROLES))
    lines = []
    for (service, role), names in sorted(given.items()):
        lacking = missing(service, role, names)
        unread = names - (read_anywhere if shared_environment else reads(service, role))
        if lacking:
            lines.append(f"{source} {service}-{role} lacks {', '.join(sorted(lacking))}")
        if unread:
            lines.append(f"{source} {service}-{role} gives {', '.join(sorted(unread))}, "
                         "which it does not read")
    return lines


def iopnet_names(names: Iterator[str]) -> frozenset[str]:
    return frozenset(name for name in names if name.startswith(PREFIX))


def compose_given() -> Given:
    compose: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return {(service, role): iopnet_names(iter(compose["services"][f"{service}-{role}"]
                                                ["environment"]))
            for service in SERVICES for role in ROLES}


def chart_given(helm: Path, values: str) -> Given:
    output = run_helm(helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
                      "--kube-version", KUBE_VERSION, *VALUES[values])
    workloads = {m["metadata"]["name"]: m for m in yaml.safe_load_all(output)
                 if m and m["kind"] in ("Deployment", "Job")}
    given = {}
    for service in SERVICES:
        for role in ROLES:
            pod = workloads[f"{RELEASE}-{service}-{role}"]["spec"]["template"]["spec"]
            (container,) = pod["containers"]
            given[service, role] = iopnet_names(e["name"] for e in container.get("env", []))
    return given


def local_runner_given() -> Given:
    """What ``make up`` and the e2e tests give the API and worker processes (the local
    runner migrates in its own process, with the database URL in hand)."""
    stack = Stack(database_url={s: f"postgresql://iopnet@127.0.0.1:25432/{s}" for s in SERVICES},
                  kafka_bootstrap="127.0.0.1:29092", operator_key="any",
                  extra_env={"IOPNET_SMTP_HOST": "127.0.0.1", "IOPNET_SMTP_PORT": "2525"})
    return {(service, role): iopnet_names(iter(stack.environment(service)))
            for service in SERVICES for role in ("api", "worker")}


def test_every_setting_is_read_by_the_code() -> None:
    """The lists below come from the code; a required name is one the settings read."""
    for service in SERVICES:
        assert required(service) <= reads(service, "worker"), service
        assert {"IOPNET_DATABASE_URL", "IOPNET_KAFKA_BOOTSTRAP"} <= required(service)
    assert "IOPNET_SMTP_HOST" in reads("notifications", "worker")
    assert "IOPNET_SMTP_HOST" not in reads("intake", "worker")
    assert OPERATOR_DIGESTS_ENV in reads("intake", "api")
    assert OPERATOR_DIGESTS_ENV not in reads("intake", "worker")


def test_compose_gives_each_process_what_it_reads() -> None:
    assert not (lines := disagreements("docker-compose.yml", compose_given())), \
        "\n".join(lines)


@pytest.mark.parametrize("values", sorted(VALUES))
def test_the_chart_gives_each_process_what_it_reads(helm: Path, values: str) -> None:
    assert not (lines := disagreements(f"chart ({values} values)", chart_given(helm, values))), \
        "\n".join(lines)


def test_the_local_runner_gives_each_process_what_it_reads() -> None:
    lines = disagreements("iopctl/stack.py", local_runner_given(), shared_environment=True)
    assert not lines, "\n".join(lines)


def test_a_disagreement_is_named() -> None:
    """The checks above are live: a missing, a misspelt and a misplaced name are each listed."""
    given: Given = {
        ("intake", "api"): {"IOPNET_KAFKA_BOOTSTRAP", "IOPNET_HTTP_PORT", "IOPNET_DATABSE_URL"},
        ("intake", "worker"): {*required("intake"), "IOPNET_OPERATOR_KEY_SHA256"},
        ("notifications", "worker"): {*required("notifications"), "IOPNET_SMTP_HOST"},
        ("plans", "migrate"): {*required("plans") - {"IOPNET_DATABASE_URL"},
                               "IOPNET_MIGRATION_DATABASE_URL"},
        ("plans", "api"): {*required("plans") - {"IOPNET_DATABASE_URL"},
                           "IOPNET_MIGRATION_DATABASE_URL"},
    }
    assert disagreements("x", given) == [
        "x intake-api lacks IOPNET_DATABASE_URL",
        "x intake-api gives IOPNET_DATABSE_URL, which it does not read",
        "x intake-worker gives IOPNET_OPERATOR_KEY_SHA256, which it does not read",
        "x plans-api lacks IOPNET_DATABASE_URL",
    ]
    assert disagreements("x", given, shared_environment=True) == [
        "x intake-api lacks IOPNET_DATABASE_URL",
        "x intake-api gives IOPNET_DATABSE_URL, which it does not read",
        "x plans-api lacks IOPNET_DATABASE_URL",
    ]
