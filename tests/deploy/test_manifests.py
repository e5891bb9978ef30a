"""Offline checks of what ships the system: the Helm chart, docker-compose.yml, the Dockerfile.

The chart is linted and rendered by a real Helm (built once from its Go module,
see ``iopctl.helm``) with the default values and with the production values,
and every rendered manifest is validated against the Kubernetes schema
(``kubernetes_validate``, strict: unknown fields fail). CRD kinds have no schema
there and are checked field by field. Names, ports, topics and databases are
compared with the code's own lists, so the deployment files stay in step.
docker-compose.yml is checked by Compose v2 itself (``config -q``; built once from
its Go module, see ``iopctl.compose_build``) and against the same lists.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

from iopctl.kafka_acls import (
    DESCRIBE,
    GROUP,
    LITERAL,
    PREFIXED,
    READ,
    TOPIC,
    WRITE,
    consumed_services,
    service_acls,
)
from iopctl.paths import REPO_ROOT
from iopctl.stack import DEFAULT_PORTS
from iopnet.topics import DEFAULT_NAMESPACE, SERVICES, all_topics, durability

CHART = REPO_ROOT / "deploy" / "helm" / "iopnet"
PRODUCTION_VALUES = REPO_ROOT / "deploy" / "helm" / "values-production.yaml"
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
POSTGRES_INIT = REPO_ROOT / "deploy" / "compose" / "postgres-init.sql"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"

#: The Kubernetes version the chart is rendered for and validated against. (A Helm
#: built by `go install` lacks the release build's ldflags and assumes v1.20 otherwise.)
KUBE_VERSION = "1.33.0"
RELEASE = "iopnet"
NAMESPACE = "iopnet"
#: Kinds whose schema kubernetes_validate lacks (CRDs): checked by hand below.
CRD_KINDS = {
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "PodMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
    "KafkaTopic": "kafka.strimzi.io/v1",
    "KafkaUser": "kafka.strimzi.io/v1",
}
VALUES = {"default": [], "production": ["-f", str(PRODUCTION_VALUES)]}
ROLES = ("api", "worker")

Manifest = dict[str, Any]


# --- Helm -------------------------------------------------------------------

def run_helm(helm: Path, *args: str) -> str:
    done = subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, f"helm {' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="session", params=sorted(VALUES))
def rendered(request: pytest.FixtureRequest, helm: Path) -> tuple[str, list[Manifest]]:
    """(values name, manifests) of ``helm template`` for each values set."""
    output = run_helm(helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
                      "--kube-version", KUBE_VERSION, *VALUES[request.param])
    return request.param, [doc for doc in yaml.safe_load_all(output) if doc]


def by_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def env_of(container: Manifest) -> dict[str, Manifest]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def secret_ref(entry: Manifest) -> tuple[str, str]:
    ref = entry["valueFrom"]["secretKeyRef"]
    return ref["name"], ref["key"]


@pytest.mark.parametrize("values", sorted(VALUES))
def test_helm_lint(helm: Path, values: str) -> None:
    output = run_helm(helm, "lint", "--strict", str(CHART), *VALUES[values])
    assert "0 chart(s) failed" in output


def test_every_manifest_is_valid_kubernetes(rendered: tuple[str, list[Manifest]]) -> None:
    _, manifests = rendered
    errors, validated = [], 0
    for manifest in manifests:
        name = f"{manifest['kind']}/{manifest['metadata']['name']}"
        if manifest["kind"] in CRD_KINDS:
            assert manifest["apiVersion"] == CRD_KINDS[manifest["kind"]], name
            continue
        try:
            kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)
            validated += 1
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{name}: {'.'.join(map(str, error.path))}: {error.message}")
        except SchemaNotFoundError as missing:
            errors.append(f"{name}: no schema ({missing.message}); add it to CRD_KINDS?")
    assert not errors, "\n".join(errors)
    assert validated >= 4 * len(SERVICES)


def test_the_validator_rejects_unknown_fields() -> None:
    """Strict validation is live: a misspelt field fails (so the test above means something)."""
    bad = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "x"}, "spec": {"ports": [{"port": 1, "targetPorts": 1}]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBE_VERSION, strict=True)


def test_each_service_has_an_api_a_worker_a_service_and_a_migration(
    rendered: tuple[str, list[Manifest]],
) -> None:
    _, manifests = rendered
    deployments = by_kind(manifests, "Deployment")
    services = by_kind(manifests, "Service")
    jobs = by_kind(manifests, "Job")
    assert set(deployments) == {f"{RELEASE}-{s}-{role}" for s in SERVICES for role in ROLES}
    for service in SERVICES:
        port = DEFAULT_PORTS[service]
        api = deployments[f"{RELEASE}-{service}-api"]["spec"]["template"]["spec"]
        (container,) = api["containers"]
        assert container["args"] == [f"services.{service}", "api"]
        assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert_service_env(container, service)
        assert_hardened(api, container)

        worker = deployments[f"{RELEASE}-{service}-worker"]["spec"]["template"]["spec"]
        (container,) = worker["containers"]
        assert container["args"] == [f"services.{service}", "worker"]
        assert [p["name"] for p in container["ports"]] == ["metrics"]
        assert container["livenessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
        assert_service_env(container, service)
        assert_hardened(worker, container)

        spec = services[f"{RELEASE}-{service}"]["spec"]
        assert spec["ports"] == [{"name": "http", "port": port, "targetPort": "http",
                                  "protocol": "TCP"}]
        assert spec["selector"]["app.kubernetes.io/component"] == "api"
        assert spec["selector"]["iopnet/service"] == service

        migrate = jobs[f"{RELEASE}-{service}-migrate"]
        assert migrate["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
        (container,) = migrate["spec"]["template"]["spec"]["containers"]
        assert container["args"] == [f"services.{service}", "migrate"]
        assert_service_env(container, service, migrate=True)


def assert_service_env(container: Manifest, service: str, *, migrate: bool = False) -> None:
    """The services run as their login; only the migrate Job gets the schema owner's URL."""
    env = env_of(container)
    if migrate:
        assert secret_ref(env["IOPNET_MIGRATION_DATABASE_URL"])[1] == (
            f"{service}-migration-database-url")
        assert "IOPNET_DATABASE_URL" not in env
    else:
        assert secret_ref(env["IOPNET_DATABASE_URL"])[1] == f"{service}-database-url"
        assert "IOPNET_MIGRATION_DATABASE_URL" not in env
    assert env["IOPNET_HTTP_HOST"]["value"] == "0.0.0.0"
    assert env["IOPNET_HTTP_PORT"]["value"] == str(DEFAULT_PORTS[service])
    assert env["IOPNET_CONSUMER_GROUP"]["value"] == service
    assert env["IOPNET_KAFKA_BOOTSTRAP"]["value"]
    assert env["IOPNET_LOG_LEVEL"]["value"]
    assert env["OTEL_SERVICE_NAME"]["value"] == f"iopnet-{service}"


def assert_hardened(pod: Manifest, container: Manifest) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert "limits" in container["resources"] and "requests" in container["resources"]


def test_no_secret_is_rendered_or_inlined(rendered: tuple[str, list[Manifest]]) -> None:
    _, manifests = rendered
    assert not by_kind(manifests, "Secret")
    sensitive = re.compile(r"DATABASE_URL|PASSWORD|USERNAME|OPERATOR_KEY")
    for manifest in manifests:
        pod = manifest.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []):
            for name, entry in env_of(container).items():
                if name == "IOPNET_KAFKA_SASL_USERNAME" and "value" in entry:
                    # A service's own Kafka user is named after it; its password is secret.
                    assert entry["value"] in {f"iopnet-{s}" for s in SERVICES}, name
                elif sensitive.search(name):
                    assert "value" not in entry, f"{manifest['metadata']['name']}: {name}"
                    secret_ref(entry)


def test_pod_disruption_budgets_and_network_policies(rendered: tuple[str, list[Manifest]]) -> None:
    values, manifests = rendered
    pdbs = by_kind(manifests, "PodDisruptionBudget")
    assert set(pdbs) == {f"{RELEASE}-{s}-{role}" for s in SERVICES for role in ROLES}
    policies = by_kind(manifests, "NetworkPolicy")
    egress = policies[f"{RELEASE}-egress"]["spec"]
    assert egress["policyTypes"] == ["Egress"]
    ports = {p["port"] for rule in egress["egress"] for p in rule["ports"]}
    expected = {53, 5432, 4317, 4318} | ({9096, 25, 443} if values == "production" else {9092})
    assert ports == expected
    ingress = policies[f"{RELEASE}-api-ingress"]["spec"]
    assert {p["port"] for p in ingress["ingress"][0]["ports"]} == set(DEFAULT_PORTS.values())
    assert policies[f"{RELEASE}-deny-ingress"]["spec"]["policyTypes"] == ["Ingress"]


def test_default_values(helm: Path) -> None:
    manifests = render(helm, [])
    deployments = by_kind(manifests, "Deployment")
    assert all(d["spec"]["replicas"] == 2 for d in deployments.values())
    for kind in ("HorizontalPodAutoscaler", "Ingress", "ServiceMonitor", "PodMonitor",
                 "KafkaTopic", "PrometheusRule"):
        assert not by_kind(manifests, kind), kind
    topics = by_kind(manifests, "Job")[f"{RELEASE}-topics"]
    assert topics["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    # The topics come before the migrations, both before the pods.
    assert int(topics["metadata"]["annotations"]["helm.sh/hook-weight"]) < 0
    (container,) = topics["spec"]["template"]["spec"]["containers"]
    assert container["args"][:3] == ["iopctl.cli", "topics", "ensure"]
    assert "IOPNET_KAFKA_BOOTSTRAP" in env_of(container)
    assert "IOPNET_DATABASE_URL" not in env_of(container)


def test_production_values(helm: Path) -> None:
    manifests = render(helm, VALUES["production"])
    deployments = by_kind(manifests, "Deployment")
    hpas = by_kind(manifests, "HorizontalPodAutoscaler")
    ingresses = by_kind(manifests, "Ingress")
    for service in SERVICES:
        api = deployments[f"{RELEASE}-{service}-api"]
        assert "replicas" not in api["spec"], "the HPA owns the API's replicas"
        hpa = hpas[f"{RELEASE}-{service}-api"]["spec"]
        assert hpa["scaleTargetRef"]["name"] == f"{RELEASE}-{service}-api"
        assert hpa["minReplicas"] == 3
        rule = ingresses[f"{RELEASE}-{service}"]["spec"]["rules"][0]
        assert rule["host"] == f"{service}.iopnet.example.org"
        assert rule["http"]["paths"][0]["backend"]["service"]["name"] == f"{RELEASE}-{service}"
        assert ingresses[f"{RELEASE}-{service}"]["spec"]["tls"][0]["hosts"] == [rule["host"]]

        pod = api["spec"]["template"]["spec"]
        env = env_of(pod["containers"][0])
        assert env["IOPNET_KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
        assert env["IOPNET_KAFKA_SASL_MECHANISM"]["value"].startswith("SCRAM")
        assert env["IOPNET_KAFKA_SASL_USERNAME"]["value"] == f"iopnet-{service}"
        assert secret_ref(env["IOPNET_KAFKA_SASL_PASSWORD"]) == (f"iopnet-{service}", "password")
        worker_env = env_of(deployments[f"{RELEASE}-{service}-worker"]["spec"]["template"][
            "spec"]["containers"][0])
        assert worker_env["IOPNET_KAFKA_SASL_USERNAME"]["value"] == f"iopnet-{service}"
        assert secret_ref(env["IOPNET_OPERATOR_KEY_SHA256"]) == (
            "iopnet-operator", "operator-key-sha256")
        assert "IOPNET_OPERATOR_KEY" not in env
        worker = deployments[f"{RELEASE}-{service}-worker"]["spec"]["template"]["spec"]
        assert not {"IOPNET_OPERATOR_KEY", "IOPNET_OPERATOR_KEY_SHA256"} & set(
            env_of(worker["containers"][0])), "workers authenticate no one"
        assert secret_ref(env["IOPNET_DATABASE_URL"]) == (
            "iopnet-postgres", f"{service}-database-url")
        ca_file = env["IOPNET_KAFKA_CA_FILE"]["value"]
        mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        assert ca_file.startswith(mounts["kafka-ca"] + "/")
        assert env["PGSSLROOTCERT"]["value"].startswith(mounts["postgres-ca"] + "/")
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["kafka-ca"]["secret"]["secretName"] == "iopnet-kafka-ca"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"].startswith("http")
    assert by_kind(manifests, "HorizontalPodAutoscaler")[f"{RELEASE}-intake-api"][
        "spec"]["maxReplicas"] == 15  # a per-service override
    for service in SERVICES:  # per-service environment
        worker = deployments[f"{RELEASE}-{service}-worker"]["spec"]["template"]["spec"]
        smtp = env_of(worker["containers"][0]).get("IOPNET_SMTP_HOST")
        assert (smtp is not None) == (service == "notifications"), service
        api = deployments[f"{RELEASE}-{service}-api"]["spec"]["template"]["spec"]
        assert "IOPNET_SMTP_PASSWORD" not in env_of(api["containers"][0]), "the worker sends"
    notifier = env_of(deployments[f"{RELEASE}-notifications-worker"]["spec"]["template"][
        "spec"]["containers"][0])
    assert notifier["IOPNET_SMTP_STARTTLS"]["value"] == "true"
    assert secret_ref(notifier["IOPNET_SMTP_USERNAME"]) == ("iopnet-smtp", "username")
    assert secret_ref(notifier["IOPNET_SMTP_PASSWORD"]) == ("iopnet-smtp", "password")

    (monitor,) = by_kind(manifests, "ServiceMonitor").values()
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"

    topics = by_kind(manifests, "KafkaTopic")
    assert {t["spec"]["topicName"]: t["spec"]["partitions"] for t in topics.values()} == {
        spec.name: spec.partitions for spec in all_topics(DEFAULT_NAMESPACE)}
    for topic in topics.values():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "iopnet-kafka"
        assert topic["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert topic["spec"]["replicas"] == 3
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", topic["metadata"]["name"])
    assert f"{RELEASE}-topics" not in by_kind(manifests, "Job"), "Strimzi makes the topics"


def test_chart_topics_match_the_code() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    listed = {t["name"]: t["partitions"] for t in values["kafka"]["topics"]["list"]}
    assert listed == {spec.name: spec.partitions for spec in all_topics(DEFAULT_NAMESPACE)}
    assert set(values["services"]) == set(SERVICES)
    assert {name: s["port"] for name, s in values["services"].items()} == dict(DEFAULT_PORTS)


def test_chart_kafka_users_consume_what_the_code_does() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["kafka"]["users"]["consumes"] == {s: consumed_services(s) for s in SERVICES}


def test_strimzi_users_may_write_their_own_topic_only(helm: Path) -> None:
    """Each KafkaUser's ACLs are the ones iopctl grants on the local broker."""
    manifests = render(helm, [*VALUES["production"],
                              "--set", "kafka.users.strimzi.enabled=true",
                              "--set", "kafka.users.strimzi.clusterName=iopnet-kafka"])
    users = by_kind(manifests, "KafkaUser")
    assert set(users) == {f"iopnet-{s}" for s in SERVICES}
    codes = {"topic": TOPIC, "group": GROUP, "literal": LITERAL, "prefix": PREFIXED,
             "Read": READ, "Write": WRITE, "Describe": DESCRIBE}
    for service in SERVICES:
        spec = users[f"iopnet-{service}"]["spec"]
        assert spec["authentication"]["type"] == "scram-sha-512"
        granted = {(codes[acl["resource"]["type"]], acl["resource"]["name"],
                    codes[acl["resource"]["patternType"]], codes[operation])
                   for acl in spec["authorization"]["acls"] for operation in acl["operations"]}
        expected = {(a.resource_type, a.resource_name, a.pattern, a.operation)
                    for a in service_acls(service, DEFAULT_NAMESPACE)}
        assert granted == expected, service
    writers = {name for name, user in users.items() for acl in user["spec"]["authorization"][
        "acls"] if acl["resource"]["name"] == "iopnet.network.events"
        and "Write" in acl["operations"]}
    assert writers == {"iopnet-intake"}


def test_values_schema_knows_the_services() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert set(schema["properties"]["services"]["propertyNames"]["enum"]) == set(SERVICES)


@pytest.mark.parametrize("setting", [
    "kafka.securityProtocol=SASL",  # not a protocol
    "services.billing.port=8010",  # not a service
    "api.autoscaling.maxReplicas=zero",  # not a number
    "replica=3",  # a typo at the top level
])
def test_the_values_schema_refuses_mistakes(helm: Path, setting: str) -> None:
    done = subprocess.run(
        [str(helm), "template", RELEASE, str(CHART), "--kube-version", KUBE_VERSION,
         "--set", setting], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert "schema" in done.stderr


def test_required_values_fail_clearly(helm: Path) -> None:
    done = subprocess.run(
        [str(helm), "template", RELEASE, str(CHART), "--kube-version", KUBE_VERSION,
         "--set", "postgres.existingSecret="],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert "postgres.existingSecret" in done.stderr


def render(helm: Path, extra: list[str]) -> list[Manifest]:
    output = run_helm(helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
                      "--kube-version", KUBE_VERSION, *extra)
    return [doc for doc in yaml.safe_load_all(output) if doc]


# --- docker-compose.yml -----------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> Manifest:
    parsed: Manifest = yaml.safe_load(COMPOSE_FILE.read_text())
    return parsed


def iopnet_services(compose: Manifest) -> Iterator[tuple[str, Manifest]]:
    for name, service in compose["services"].items():
        if "build" in service:
            yield name, service


def test_compose_has_every_role_of_every_service(compose: Manifest) -> None:
    expected = {"postgres", "kafka", "topics"} | {
        f"{s}-{role}" for s in SERVICES for role in ("migrate", *ROLES)}
    assert set(compose["services"]) == expected
    images = {service["image"] for _, service in iopnet_services(compose)}
    assert len(images) == 1, "one image runs every service and role"
    assert {name for name, _ in iopnet_services(compose)} == expected - {"postgres", "kafka"}


def test_compose_commands_env_and_ports(compose: Manifest) -> None:
    for name, service in iopnet_services(compose):
        env = service["environment"]
        assert env["IOPNET_KAFKA_BOOTSTRAP"] == "kafka:9092", name
        assert env["IOPNET_HTTP_HOST"] == "0.0.0.0", name
        assert ("IOPNET_OPERATOR_KEY_SHA256" in env) == name.endswith("-api"), name
        assert env["IOPNET_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT", name
        if name == "topics":
            assert service["command"][:3] == ["iopctl.cli", "topics", "ensure"]
            assert "--principals" in service["command"]
            assert env["IOPNET_KAFKA_SASL_USERNAME"] == "iopnet-admin"
            assert service["depends_on"]["kafka"]["condition"] == "service_healthy"
            continue
        owner, role = name.rsplit("-", 1)
        assert service["command"] == [f"services.{owner}", role], name
        if role in ROLES:  # each service logs in to Kafka as itself
            assert env["IOPNET_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512", name
            assert env["IOPNET_KAFKA_SASL_USERNAME"] == f"iopnet-{owner}", name
            assert f"IOPNET_KAFKA_{owner.upper()}_PASSWORD" in env["IOPNET_KAFKA_SASL_PASSWORD"]
        login = "iopnet_owner" if role == "migrate" else "iopnet_runtime"
        given, withheld = ("IOPNET_MIGRATION_DATABASE_URL", "IOPNET_DATABASE_URL")[
            ::1 if role == "migrate" else -1]
        url = env[given]
        assert withheld not in env, name
        match = re.fullmatch(rf"postgresql://{login}:[^@]+@postgres:5432/(\w+)", url)
        assert match, f"{name}: {url}"
        assert match.group(1) == owner, f"{name} must use its own database"
        assert env["IOPNET_HTTP_PORT"] == DEFAULT_PORTS[owner], name
        assert env["IOPNET_CONSUMER_GROUP"] == owner, name
        assert env["OTEL_SERVICE_NAME"] == f"iopnet-{owner}", name
        if role == "api":
            port = DEFAULT_PORTS[owner]
            assert service["ports"] == [f"127.0.0.1:{port}:{port}"], name
            assert f":{port}/readyz" in " ".join(service["healthcheck"]["test"]), name
        else:
            assert "ports" not in service, name


def test_compose_start_order(compose: Manifest) -> None:
    for name, service in iopnet_services(compose):
        depends = {dep: spec["condition"] for dep, spec in service["depends_on"].items()}
        owner, _, role = name.rpartition("-")
        if role == "migrate":
            assert depends == {"postgres": "service_healthy"}, name
        elif role in ROLES:
            assert depends == {
                "postgres": "service_healthy", "kafka": "service_healthy",
                "topics": "service_completed_successfully",
                f"{owner}-migrate": "service_completed_successfully",
            }, name
    for infra in ("postgres", "kafka"):
        assert compose["services"][infra]["healthcheck"]["test"], infra


def test_compose_infrastructure(compose: Manifest) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:4.")
    env = kafka["environment"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "INTERNAL://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    protocols = {p.split(":")[1] for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")}
    assert protocols == {"SASL_PLAINTEXT"}, "every listener authenticates"
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"].endswith(".StandardAuthorizer")
    assert env["KAFKA_SUPER_USERS"] == "User:iopnet-admin"
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    postgres = compose["services"]["postgres"]
    assert postgres["image"] == "postgres:16"
    mounts = " ".join(postgres["volumes"])
    assert "./deploy/compose/postgres-init.sql:/docker-entrypoint-initdb.d/" in mounts
    created = re.findall(r"CREATE DATABASE (\w+) OWNER iopnet_owner;", POSTGRES_INIT.read_text())
    assert sorted(created) == sorted(SERVICES)


def test_docker_compose_config(docker_compose: Path) -> None:
    """Compose v2 itself parses and validates the file (``config -q`` needs no engine)."""
    done = subprocess.run([str(docker_compose), "-f", str(COMPOSE_FILE), "config", "-q"],
                          capture_output=True, text=True, timeout=120, check=False,
                          cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr


def test_docker_compose_config_refuses_a_broken_file(docker_compose: Path,
                                                     tmp_path: Path) -> None:
    """The check above is live: a service that depends on one that does not exist fails."""
    broken = yaml.safe_load(COMPOSE_FILE.read_text())
    broken["services"]["intake-api"]["depends_on"]["billing"] = {"condition": "service_healthy"}
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(broken))
    done = subprocess.run([str(docker_compose), "-f", str(tmp_path / "docker-compose.yml"),
                           "--project-directory", str(REPO_ROOT), "config", "-q"],
                          capture_output=True, text=True, timeout=120, check=False,
                          cwd=REPO_ROOT)
    assert done.returncode != 0
    assert "billing" in done.stderr


# --- Dockerfile -------------------------------------------------------------

def test_dockerfile_builds_from_the_lock_and_runs_unprivileged() -> None:
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?", text, re.MULTILINE)
    assert [alias for _, alias in stages] == ["builder", "runtime"]
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", text, re.MULTILINE)
    assert "uv sync --frozen --no-dev" in text
    runtime = text.split(" AS runtime", 1)[1]
    assert "uv" not in re.sub(r"#.*", "", runtime).split(), "no uv in the final image"
    assert re.search(r"^USER (?!0\b|root\b)\S+", runtime, re.MULTILINE)
    assert 'ENTRYPOINT ["python", "-m"]' in runtime
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    packages = re.search(r"packages = \[(.*?)\]", pyproject)
    assert packages
    for package in re.findall(r'"([^"]+)"', packages.group(1)):
        top = package.split("/")[0] if package.startswith("shared") else package
        assert re.search(rf"^COPY {re.escape(top)} ", text, re.MULTILINE), package
    ignored = DOCKERIGNORE.read_text().split()
    for local_state in (".venv", ".iopnet", ".git", ".tools", "tests"):
        assert local_state in ignored


def test_production_alerts_on_what_readiness_leaves_out(helm: Path) -> None:
    """Readiness is the database only; a stalled outbox, lag and dead letters page instead."""
    manifests = render(helm, VALUES["production"])
    (rule,) = by_kind(manifests, "PrometheusRule").values()
    alerts = {r["alert"]: r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert "iopnet_outbox_oldest_age_seconds" in alerts["IopnetOutboxStalled"]
    assert "iopnet_consumer_lag" in alerts["IopnetConsumerLagging"]
    assert "iopnet_dead_letters" in alerts["IopnetDeadLetters"]


def test_strimzi_topics_are_as_durable_as_the_topic_job_makes_them(helm: Path) -> None:
    manifests = render(helm, VALUES["production"])
    topics = by_kind(manifests, "KafkaTopic").values()
    assert topics
    for topic in topics:
        assert topic["spec"]["config"] == durability(topic["spec"]["replicas"]), \
            topic["metadata"]["name"]


def test_strimzi_topics_need_the_namespace_their_operator_watches(helm: Path) -> None:
    """No silent default: KafkaTopics in a namespace no Topic Operator watches never exist."""
    done = subprocess.run(
        [str(helm), "template", RELEASE, str(CHART), "--kube-version", KUBE_VERSION,
         "--set", "kafka.topics.strimzi.enabled=true",
         "--set", "kafka.topics.strimzi.clusterName=iopnet-kafka"],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert "kafka.topics.strimzi.namespace is required" in done.stderr, done.stderr
