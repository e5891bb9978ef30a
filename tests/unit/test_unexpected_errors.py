"""An unexpected failure still answers in the caller's format, and says nothing of itself:
problem+json on the REST API, an OperationOutcome under /fhir."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from iopnet.fhir.api import install_fhir_errors
from iopnet.problems import install_problem_handlers

pytestmark = pytest.mark.unit

SECRET = "password=hunter2 at 10.0.0.7"


def failing_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    install_fhir_errors(app)

    @app.get("/v1/broken")
    @app.get("/fhir/R4/Patient/broken")
    async def broken() -> None:
        raise RuntimeError(SECRET)

    return app


def test_an_unexpected_failure_is_a_problem_that_tells_nothing() -> None:
    answer = TestClient(failing_app(), raise_server_exceptions=False).get("/v1/broken")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/internal")
    assert SECRET not in answer.text


def test_an_unexpected_failure_under_fhir_is_an_operation_outcome() -> None:
    answer = TestClient(failing_app(), raise_server_exceptions=False).get(
        "/fhir/R4/Patient/broken")
    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("application/fhir+json")
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert [i["code"] for i in outcome["issue"]] == ["exception"]
    assert SECRET not in answer.text
