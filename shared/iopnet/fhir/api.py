"""The ``/fhir/R4`` router every service mounts, and its errors as OperationOutcome.

The routes sit behind the same dependencies as the REST reads (``site_database``:
API key, scope, the caller's site only) and the same audit trail. A refusal raised
anywhere (a missing key, a validation error, an unknown route) is answered under
``/fhir`` as the OperationOutcome a FHIR client expects, with the same status.
FHIR routes describe themselves in the CapabilityStatement (``/fhir/R4/metadata``),
not in the OpenAPI document, whose every route answers problem+json.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.responses import Response

from iopnet.auth import SiteDatabase, site_database
from iopnet.catalog import Scope
from iopnet.db import Connection
from iopnet.fhir.documents import (
    LOINC,
    Resource,
    ResourceSupport,
    SearchParam,
    capability_statement,
    operation_outcome,
)
from iopnet.fhir.documents import searchset as searchset_document
from iopnet.responses import OrjsonResponse

FHIR_JSON = "application/fhir+json"
FHIR_BASE = "/fhir/R4"

#: Every FHIR read: the caller's site only, as the REST reads.
Reader = Annotated[SiteDatabase, Depends(site_database(Scope.READ))]
PATIENT_SEARCH = SearchParam("patient", "reference", "Patient/{id} or {id}")

#: http://hl7.org/fhir/R4/valueset-issue-type.html, by HTTP status.
ISSUE_TYPES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found",
               405: "not-supported", 409: "conflict", 422: "invalid", 429: "throttled",
               500: "exception"}

class FhirResponse(OrjsonResponse):
    media_type = FHIR_JSON


class FhirError(Exception):
    def __init__(self, status: int, diagnostics: str, expression: Sequence[str] = ()) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.diagnostics = diagnostics
        self.expression = expression


def not_found(resource_type: str, resource_id: str) -> FhirError:
    return FhirError(404, f"no {resource_type} {resource_id}")


def fhir_router(service: str, served: Sequence[ResourceSupport]) -> APIRouter:
    """The service's ``/fhir/R4`` router, with its CapabilityStatement at ``metadata``
    (open, like ``/openapi.json``: it holds no data)."""
    router = APIRouter(prefix=FHIR_BASE, include_in_schema=False)
    published = datetime.now(UTC).date()

    @router.get("/metadata")
    async def metadata(request: Request) -> FhirResponse:
        return FhirResponse(capability_statement(service, base_url(request), served,
                                                 published))

    return router


async def read(db: SiteDatabase, resource_type: str, resource_id: str,
               find: Callable[[Connection, str], Awaitable[Resource | None]],
               parse: Callable[[str], str | None] | None = None) -> FhirResponse:
    """A read by id: what ``find`` makes of the id (``parse`` checks its form, a UUID by
    default) in the caller's site, or 404 as for an id that cannot exist."""
    found = None
    if (known := (parse or id_of)(resource_id)) is not None:
        async with db.transaction() as conn:
            found = await find(conn, known)
    if found is None:
        raise not_found(resource_type, resource_id)
    return FhirResponse(found)


async def search(request: Request, db: SiteDatabase, patient: str | None,
                 find: Callable[[Connection, str], Awaitable[Sequence[Resource]]],
                 param: str = "patient") -> FhirResponse:
    """A search by patient: what ``find`` finds of the patient in the caller's site."""
    patient_id = patient_of(patient, param)
    async with db.transaction() as conn:
        found = await find(conn, patient_id)
    return searchset(request, found)


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + FHIR_BASE


def searchset(request: Request, resources: Sequence[Resource]) -> FhirResponse:
    return FhirResponse(searchset_document(str(request.url), base_url(request), resources))


def id_of(value: str) -> str | None:
    """A resource id as iopnet writes it (a UUID), or None: no such resource can exist."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def patient_of(value: str | None, param: str = "patient") -> str:
    """The patient id a ``patient`` search parameter (or ``param``) names: ``{id}`` or
    ``Patient/{id}``."""
    if value is None:
        raise FhirError(400, f"search by patient: ?{param}=Patient/{{id}}", [param])
    patient_id = id_of(value.removeprefix("Patient/"))
    if patient_id is None:
        raise FhirError(400, f"{param} must be a patient's id or Patient/{{id}}", [param])
    return patient_id


def codes_of(value: str | None) -> frozenset[str] | None:
    """The LOINC codes a ``code`` token parameter asks for (``44261-6``,
    ``http://loinc.org|44261-6``, several comma-separated); None when it is absent.
    A token of another system matches nothing here."""
    if value is None:
        return None
    codes = set()
    for token in value.split(","):
        system, bar, code = token.rpartition("|")
        if not bar or system in ("", LOINC):
            codes.add(code)
    return frozenset(codes)


def install_fhir_errors(app: FastAPI) -> None:
    """Errors under ``/fhir`` as OperationOutcome; call after the problem handlers."""

    async def on_fhir_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, FhirError)
        return FhirResponse(operation_outcome(
            "error", ISSUE_TYPES.get(exc.status, "processing"), exc.diagnostics,
            exc.expression), status_code=exc.status)

    for kind, handler in list(app.exception_handlers.items()):
        app.exception_handlers[kind] = _outcome_under_fhir(handler)
    app.add_exception_handler(FhirError, on_fhir_error)


Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def _outcome_under_fhir(handler: Handler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        answer = handler(request, exc)
        if inspect.isawaitable(answer):
            answer = await answer
        if not request.url.path.startswith(FHIR_BASE + "/"):
            return answer
        return _as_outcome(answer)

    return handle


def _as_outcome(problem: Response) -> Response:
    """A problem+json answer retold as an OperationOutcome: its status, headers
    (``WWW-Authenticate``, ``Retry-After``) and the fields at fault kept."""
    body = orjson.loads(bytes(problem.body))
    diagnostics = ": ".join(str(body[k]) for k in ("title", "detail") if body.get(k))
    expression = [str(e["pointer"]) for e in body.get("errors", ()) if e.get("pointer")]
    headers = {k: v for k, v in problem.headers.items()
               if k.lower() not in ("content-type", "content-length")}
    return FhirResponse(operation_outcome(
        "error", ISSUE_TYPES.get(problem.status_code, "processing"), diagnostics, expression),
        status_code=problem.status_code, headers=headers)
