# iopnet: `make up` runs the whole system, `make test` runs every test.
# Both set up what they need on a fresh machine: the virtual environment with
# the locked packages, Postgres binaries (apt) and the Kafka jars (Maven).

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: up down test lint unit infra k8s bench demo mutation clean

up: $(VENV)/.synced
	$(PY) -m iopctl.cli up

down: $(VENV)/.synced
	$(PY) -m iopctl.cli down

test: $(VENV)/.synced lint
	$(PY) -m iopctl.cli infra up
	$(PY) -m pytest

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

unit: $(VENV)/.synced
	$(PY) -m pytest -m unit

infra: $(VENV)/.synced
	$(PY) -m iopctl.cli infra up

# The local Kubernetes control plane's binaries (go build, once): the chart tests use them.
k8s: $(VENV)/.synced
	$(PY) -m iopctl.k8s_build

# Mutation testing of the rules and the delivery guarantees (slow: never in `make test`/CI).
# Narrow it with MUTATION_ARGS, e.g. MUTATION_ARGS="--only 'services/family/domain/*'
# --tests tests/unit/test_family_circle.py"; see docs/testing.md.
mutation: $(VENV)/.synced
	$(PY) -m iopctl.mutation run $(MUTATION_ARGS)

bench: $(VENV)/.synced
	$(PY) -m bench.run $(BENCH_ARGS)
	$(PY) -m bench.consumers
	$(PY) -m bench.streams

demo: $(VENV)/.synced
	$(PY) -m demo.run

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

# The cluster lives outside .iopnet when the postgres user cannot enter the checkout.
clean: down
	$(PY) -m iopctl.cli k8s down
	rm -rf "$$($(PY) -c 'from iopctl.paths import pg_dir; print(pg_dir())')" .iopnet $(VENV) .tools
