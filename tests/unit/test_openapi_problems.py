"""Every operation of every service documents its refusals as the problem+json they are,
so a client generated from the OpenAPI documents knows their shape."""

from __future__ import annotations

import importlib

import pytest

from iopnet.app import create_app
from iopnet.problems import PROBLEM_JSON
from iopnet.topics import SERVICES

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_documents_its_refusals_as_problem_json(service: str) -> None:
    spec = importlib.import_module(f"services.{service}.service").SPEC
    document = create_app(spec).openapi()
    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            for status in ("401", "403", "422", "429"):
                content = operation["responses"][status]["content"]
                assert list(content) == [PROBLEM_JSON], (method, template, status)
    refusal = document["paths"]["/v1/patients/{patient_id}"]["get"]["responses"]["422"]
    assert "errors" in refusal["content"][PROBLEM_JSON]["schema"]["required"]
