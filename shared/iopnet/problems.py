"""RFC 9457 problem details: every error a client sees, with the field at fault."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from iopnet.eventstore import ConcurrencyConflict
from iopnet.fields import InvalidField
from iopnet.responses import OrjsonResponse

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://iopnet.dev/problems/"

_TEXT = {"type": "string"}
_PROBLEM_FIELDS = {"type": _TEXT, "title": _TEXT, "status": {"type": "integer"},
                   "instance": _TEXT, "detail": _TEXT}


def _problem(description: str, **more: dict[str, Any]) -> dict[str, Any]:
    required = ["type", "title", "status", *more]
    schema = {"type": "object", "required": required, "properties": _PROBLEM_FIELDS | more}
    return {"description": description, "content": {PROBLEM_JSON: {"schema": schema}}}


#: The refusals every route can give, documented once for all of them as the problem+json
#: they are (FastAPI would describe a 422 in its own shape).
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem("No key, or one that is unknown, revoked or expired"),
    403: _problem("The key lacks a scope this needs"),
    422: _problem("The request is not valid; `errors` names each field at fault",
                  errors={"type": "array", "items": {
                      "type": "object", "required": ["pointer"],
                      "properties": {"pointer": _TEXT, "detail": _TEXT, "code": _TEXT}}}),
    429: _problem("Too many requests for this key; `Retry-After` says when to retry"),
}


class Problem(Exception):
    """An error to answer with a problem+json response."""

    def __init__(
        self, status: int, slug: str, title: str, detail: str = "",
        headers: dict[str, str] | None = None, **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.headers = headers or {}
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.extensions = extensions


def not_found(resource: str, identifier: str) -> Problem:
    return Problem(404, "not-found", f"{resource} not found", f"no {resource} {identifier}")


def problem_response(request: Request, problem: Problem) -> JSONResponse:
    body = {
        "type": TYPE_BASE + problem.slug,
        "title": problem.title,
        "status": problem.status,
        "instance": request.url.path,
        **({"detail": problem.detail} if problem.detail else {}),
        **problem.extensions,
    }
    return OrjsonResponse(body, status_code=problem.status, media_type=PROBLEM_JSON,
                          headers=problem.headers)


def _pointer(location: tuple[int | str, ...]) -> str:
    """The field at fault: ('body', 'patient', 'birth_date') -> #/patient/birth_date."""
    parts = [str(part) for part in location]
    where = parts[0] if parts else ""
    if where == "body":
        return "#/" + "/".join(parts[1:])
    return f"{where}:{'.'.join(parts[1:])}"


def validation_problem(error: RequestValidationError) -> Problem:
    errors = [
        {"pointer": _pointer(tuple(e["loc"])), "detail": e["msg"], "code": e["type"]}
        for e in error.errors()
    ]
    fields = ", ".join(e["pointer"] for e in errors)
    return Problem(422, "validation", "The request is not valid", f"invalid: {fields}",
                   errors=errors)


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(request, exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem_response(request, validation_problem(exc))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http")
        return problem_response(request, Problem(exc.status_code, slug, str(exc.detail)))

    async def on_invalid_field(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InvalidField)
        return problem_response(request, Problem(
            422, "validation", "The request is not valid", f"{exc.pointer}: {exc.message}",
            errors=[{"pointer": exc.pointer, "detail": exc.message}],
        ))

    async def on_conflict(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ConcurrencyConflict)
        return problem_response(request, Problem(
            409, "conflict", "The resource changed meanwhile",
            "read it again and retry", current_version=exc.actual,
        ))

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette logs the exception after this answer; the caller learns nothing of it.
        return problem_response(request, Problem(
            500, "internal", "Something went wrong on our side",
            "it was logged; a retry with the same Idempotency-Key records nothing twice"))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(Exception, on_unexpected)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(ConcurrencyConflict, on_conflict)
    app.add_exception_handler(InvalidField, on_invalid_field)
