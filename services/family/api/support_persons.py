"""Routes for the circle, its support persons and the patient's consent to share with each."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from iopnet.app import Events, RequestCause
from iopnet.auth.registry import site_date
from iopnet.db import Connection
from iopnet.idempotency import Answer, IdempotencyKey
from iopnet.problems import not_found
from services.family import store
from services.family.api.common import (
    Reader,
    Writer,
    domain_refusals,
    load_circle,
    require_circle,
    run,
)
from services.family.api.models import (
    CircleView,
    ConsentView,
    GrantRequest,
    LinkRequest,
    SupportPersonView,
)
from services.family.domain import what_may_be_shared

router = APIRouter(prefix="/v1/patients/{patient_id}", tags=["family"])
SUPPORT_PERSON = "/support-persons/{support_person_id}"


@router.get("", response_model=CircleView)
async def read_family_circle(patient_id: uuid.UUID, db: Reader) -> dict[str, Any]:
    """The patient's circle: who is in it and what each may be told today (no names)."""
    async with db.transaction() as conn:
        circle = await store.find_circle(conn, str(patient_id))
        if circle is None:
            raise not_found("patient", str(patient_id))
        members = await _support_persons(conn, patient_id)
    return {**circle, "support_persons": members}


@router.post("/support-persons", status_code=201, responses={201: {"model": SupportPersonView}})
async def link_support_person(patient_id: uuid.UUID, body: LinkRequest, request: Request,
                              db: Writer, events: Events, cause: RequestCause,
                              idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Link a support person. The name stays in family; the event carries the relationship."""
    async def link(conn: Connection) -> Answer:
        circles, circle = await load_circle(conn, events, patient_id)
        support_person_id = str(uuid.uuid4())
        circle.link_support_person(support_person_id, body.relationship)
        await circles.save(circle, cause)
        await store.record_support_person(conn, circle, support_person_id,
                                          body.relationship.value, body.given_name,
                                          body.family_name)
        return Answer(201, await _support_person(conn, patient_id, support_person_id))

    return await run(request, db, idempotency_key, body, link)


@router.get("/support-persons", response_model=list[SupportPersonView])
async def list_support_persons(patient_id: uuid.UUID, db: Reader) -> list[dict[str, Any]]:
    async with db.transaction() as conn:
        await require_circle(conn, patient_id)
        return await _support_persons(conn, patient_id)


@router.get(SUPPORT_PERSON, response_model=SupportPersonView)
async def read_support_person(patient_id: uuid.UUID, support_person_id: uuid.UUID,
                              db: Reader) -> dict[str, Any]:
    async with db.transaction() as conn:
        return await _support_person(conn, patient_id, str(support_person_id))


@router.post(SUPPORT_PERSON + "/consents", status_code=201,
             responses={201: {"model": ConsentView}})
async def grant_consent(patient_id: uuid.UUID, support_person_id: uuid.UUID,
                        body: GrantRequest, request: Request, db: Writer, events: Events,
                        cause: RequestCause, idempotency_key: IdempotencyKey = None
                        ) -> JSONResponse:
    """The patient consents to share ``scope`` with this person; it replaces their live one."""
    async def grant(conn: Connection) -> Answer:
        circles, circle = await load_circle(conn, events, patient_id)
        consent_id = str(uuid.uuid4())
        today = await site_date(conn, circle.site_id)
        with domain_refusals():
            circle.grant_consent(consent_id, str(support_person_id), body.scope,
                                 body.expires_on, today)
        await circles.save(circle, cause)
        return Answer(201, await _consent(conn, patient_id, support_person_id, consent_id))

    return await run(request, db, idempotency_key, body, grant)


@router.get(SUPPORT_PERSON + "/consents", response_model=list[ConsentView])
async def consent_history(patient_id: uuid.UUID, support_person_id: uuid.UUID, db: Reader
                          ) -> list[dict[str, Any]]:
    """Every consent granted to this person, oldest first, with its status today."""
    async with db.transaction() as conn:
        await _support_person(conn, patient_id, str(support_person_id))
        return await _consents(conn, patient_id, support_person_id)


@router.post(SUPPORT_PERSON + "/consents/{consent_id}/revoke",
             responses={200: {"model": ConsentView}})
async def revoke_consent(patient_id: uuid.UUID, support_person_id: uuid.UUID,
                         consent_id: uuid.UUID, request: Request, db: Writer, events: Events,
                         cause: RequestCause, idempotency_key: IdempotencyKey = None
                         ) -> JSONResponse:
    """Revoke at once: from this moment nothing more is shared under this consent."""
    async def revoke(conn: Connection) -> Answer:
        circles, circle = await load_circle(conn, events, patient_id)
        with domain_refusals():
            circle.revoke_consent(str(consent_id), str(support_person_id))
        await circles.save(circle, cause)
        return Answer(200, await _consent(conn, patient_id, support_person_id, str(consent_id)))

    return await run(request, db, idempotency_key, None, revoke)


async def _today(conn: Connection, patient_id: uuid.UUID) -> date:
    circle = await store.find_circle(conn, str(patient_id))
    return await site_date(conn, circle["site_id"] if circle else "")


async def _support_persons(conn: Connection, patient_id: uuid.UUID,
                           support_person_id: str | None = None) -> list[dict[str, Any]]:
    people = await store.support_persons(conn, str(patient_id), support_person_id)
    today = await _today(conn, patient_id)
    consents = [store.as_consent(row) for row in await store.consent_history(
        conn, str(patient_id), support_person_id)]
    for person in people:
        theirs = [c for c in consents if c.support_person_id == str(person["support_person_id"])]
        person["sharing"] = sorted(what_may_be_shared(theirs, today))
    return [SupportPersonView.model_validate(p).model_dump(mode="json") for p in people]


async def _support_person(conn: Connection, patient_id: uuid.UUID, support_person_id: str
                          ) -> dict[str, Any]:
    await require_circle(conn, patient_id)
    found = await _support_persons(conn, patient_id, support_person_id)
    if not found:
        raise not_found("support person", support_person_id)
    return found[0]


async def _consents(conn: Connection, patient_id: uuid.UUID, support_person_id: uuid.UUID
                    ) -> list[dict[str, Any]]:
    today = await _today(conn, patient_id)
    rows = await store.consent_history(conn, str(patient_id), str(support_person_id))
    return [ConsentView.model_validate(
        {**row, "status": store.as_consent(row).status_on(today)}).model_dump(mode="json")
        for row in rows]


async def _consent(conn: Connection, patient_id: uuid.UUID, support_person_id: uuid.UUID,
                   consent_id: str) -> dict[str, Any]:
    [consent] = [c for c in await _consents(conn, patient_id, support_person_id)
                 if c["consent_id"] == consent_id]
    return consent
