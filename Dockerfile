# syntax=docker/dockerfile:1
# One image for every service and role:
#   docker run iopnet services.intake api        (api|worker|relay|consumer|migrate)
#   docker run iopnet iopctl.cli topics ensure    (create the Kafka topics)
# Builder: uv installs the locked packages and iopnet itself (not editable) into
# /app/.venv. Runtime: the same Python, that virtual environment, a non-root user,
# no compilers, no uv.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ARG UV_VERSION=0.13.9
ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project --no-editable
# Then iopnet itself (shared/iopnet, services, deploy/iopctl, with their SQL files).
COPY README.md ./
COPY shared ./shared
COPY services ./services
COPY deploy/iopctl ./deploy/iopctl
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="iopnet" \
      org.opencontainers.image.description="iopnet services: python -m services.<name> <role>"
RUN groupadd --system --gid 10001 iopnet \
 && useradd --system --uid 10001 --gid iopnet --no-create-home \
            --home-dir /nonexistent --shell /usr/sbin/nologin iopnet
COPY --from=builder /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    IOPNET_HTTP_HOST=0.0.0.0
WORKDIR /app
USER 10001:10001
# The API ports by default: intake 8001, plans 8002, sessions 8003, family 8004,
# notifications 8005 (IOPNET_HTTP_PORT). No HEALTHCHECK: Kubernetes probes
# /healthz and /readyz, Compose declares its own.
EXPOSE 8001 8002 8003 8004 8005
ENTRYPOINT ["python", "-m"]
CMD ["services.intake", "api"]
