"""How to send a key is documented on every operation, though no route solves a security
scheme per request (iopnet.auth.guard reads the key's headers itself)."""

from __future__ import annotations

import importlib

import pytest
from fastapi.security import APIKeyHeader, HTTPBearer
from starlette.requests import Request

from iopnet.app import create_app
from iopnet.auth.guard import presented_key
from iopnet.topics import SERVICES

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_says_how_to_send_a_key(service: str) -> None:
    spec = importlib.import_module(f"services.{service}.service").SPEC
    document = create_app(spec).openapi()
    assert document["components"]["securitySchemes"] == {
        "HTTPBearer": {"type": "http", "scheme": "bearer", "description": "An iopnet API key"},
        "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    }
    operations = [op for ops in document["paths"].values() for op in ops.values()]
    assert len(operations) >= 10
    for operation in operations:
        assert operation["security"] == [{"HTTPBearer": []}, {"APIKeyHeader": []}]


def _request(*headers: tuple[str, str]) -> Request:
    return Request({"type": "http", "headers": [(k.lower().encode(), v.encode())
                                                for k, v in headers]})


@pytest.mark.parametrize("headers", [
    (),
    (("Authorization", "Bearer iop_k.s"),),
    (("Authorization", "bearer  iop_k.s "),),
    (("Authorization", "Bearer"),),
    (("Authorization", "Bearer   "), ("X-API-Key", "iop_h.s")),
    (("Authorization", "Basic abc"), ("X-API-Key", "iop_h.s")),
    (("Authorization", "Bearer iop_k.s"), ("X-API-Key", "iop_h.s")),
    (("Authorization", "BEARER iop_k.s more"),),
    (("X-API-Key", ""),),
])
async def test_a_key_is_read_as_the_bearer_and_api_key_schemes_read_it(
        headers: tuple[tuple[str, str], ...]) -> None:
    request = _request(*headers)
    bearer = await HTTPBearer(auto_error=False)(request)
    header = await APIKeyHeader(name="X-API-Key", auto_error=False)(request)
    assert presented_key(request) == ((bearer.credentials if bearer else header) or None)
