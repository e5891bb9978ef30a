"""Routes for the circle, its support persons and the patient's consent to share with each."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from iopnet.auth.registry import site_date
from iopnet.db import Connection
from iopnet.idempotency import Answer, IdempotencyKey
from iopnet.problems import not_found
from services.family import commands, store
from services.family.api.common import Reader, Writer, run
from services.family.api.models import (
    CircleView,
    ConsentView,
    GrantRequest,
    LinkRequest,
    SupportPersonView,
)
from services.family.domain import PersonName, what_may_be_shared

router = APIRouter(prefix="/v1/patients/{patient_id}", tags=["family"])
SUPPORT_PERSON = "/support-persons/{support_person_id}"


@router.get("", response_model=CircleView)
async def read_family_circle(patient_id: uuid.UUID, db: Reader) -> dict[str, Any]:
    """The patient's circle: who is in it and what each may be told today (no names)."""
    async with db.transaction() as conn:
        circle = await _circle(conn, patient_id)
        members = await _support_persons(conn, circle)
    return {**circle, "support_persons": members}


@router.post("/support-persons", status_code=201, responses={201: {"model": SupportPersonView}})
async def link_support_person(patient_id: uuid.UUID, body: LinkRequest, request: Request,
                              db: Writer, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Link a support person. The name stays in family; the event carries the relationship."""
    command = commands.LinkSupportPerson(str(patient_id), body.relationship,
                                         PersonName(body.given_name, body.family_name))

    async def link(conn: Connection) -> Answer:
        linked = await commands.link_support_person(
            commands.unit_of_work(conn, db.cause, db.events), db.principal.data_site, command)
        return Answer(201, SupportPersonView.model_validate(linked).model_dump(mode="json"))

    return await run(request, db, idempotency_key, body, link)


@router.get("/support-persons", response_model=list[SupportPersonView])
async def list_support_persons(patient_id: uuid.UUID, db: Reader) -> list[dict[str, Any]]:
    async with db.transaction() as conn:
        return await _support_persons(conn, await _circle(conn, patient_id))


@router.get(SUPPORT_PERSON, response_model=SupportPersonView)
async def read_support_person(patient_id: uuid.UUID, support_person_id: uuid.UUID,
                              db: Reader) -> dict[str, Any]:
    async with db.transaction() as conn:
        return await _support_person(conn, await _circle(conn, patient_id), support_person_id)


@router.post(SUPPORT_PERSON + "/consents", status_code=201,
             responses={201: {"model": ConsentView}})
async def grant_consent(patient_id: uuid.UUID, support_person_id: uuid.UUID,
                        body: GrantRequest, request: Request, db: Writer,
                        idempotency_key: IdempotencyKey = None
                        ) -> JSONResponse:
    """The patient consents to share ``scope`` with this person; it replaces their live one."""
    command = commands.GrantConsent(str(patient_id), str(support_person_id), body.scope,
                                    body.expires_on)

    async def grant(conn: Connection) -> Answer:
        granted = await commands.grant_consent(
            commands.unit_of_work(conn, db.cause, db.events), db.principal.data_site, command)
        return Answer(201, ConsentView.model_validate(granted).model_dump(mode="json"))

    return await run(request, db, idempotency_key, body, grant)


@router.get(SUPPORT_PERSON + "/consents", response_model=list[ConsentView])
async def consent_history(patient_id: uuid.UUID, support_person_id: uuid.UUID, db: Reader
                          ) -> list[dict[str, Any]]:
    """Every consent granted to this person, oldest first, with its status today."""
    async with db.transaction() as conn:
        circle = await _circle(conn, patient_id)
        await _support_person(conn, circle, support_person_id)
        return await _consents(conn, circle, support_person_id)


@router.post(SUPPORT_PERSON + "/consents/{consent_id}/revoke",
             responses={200: {"model": ConsentView}})
async def revoke_consent(patient_id: uuid.UUID, support_person_id: uuid.UUID,
                         consent_id: uuid.UUID, request: Request, db: Writer,
                         idempotency_key: IdempotencyKey = None
                         ) -> JSONResponse:
    """Revoke at once: from this moment nothing more is shared under this consent."""
    async def revoke(conn: Connection) -> Answer:
        revoked = await commands.revoke_consent(
            commands.unit_of_work(conn, db.cause, db.events), db.principal.data_site,
            str(patient_id), str(support_person_id), str(consent_id))
        return Answer(200, ConsentView.model_validate(revoked).model_dump(mode="json"))

    return await run(request, db, idempotency_key, None, revoke)


async def _circle(conn: Connection, patient_id: uuid.UUID) -> dict[str, Any]:
    circle = await store.find_circle(conn, str(patient_id))
    if circle is None:
        raise not_found("patient", str(patient_id))
    return circle


async def _support_persons(conn: Connection, circle: dict[str, Any],
                           support_person_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    patient_id = str(circle["patient_id"])
    person = str(support_person_id) if support_person_id else None
    people = await store.support_persons(conn, patient_id, person)
    today = await site_date(conn, circle["site_id"])
    consents = [store.as_consent(row)
                for row in await store.consent_history(conn, patient_id, person)]
    for found in people:
        theirs = [c for c in consents if c.support_person_id == str(found["support_person_id"])]
        found["sharing"] = sorted(what_may_be_shared(theirs, today))
    return [SupportPersonView.model_validate(p).model_dump(mode="json") for p in people]


async def _support_person(conn: Connection, circle: dict[str, Any],
                          support_person_id: uuid.UUID) -> dict[str, Any]:
    found = await _support_persons(conn, circle, support_person_id)
    if not found:
        raise not_found("support person", str(support_person_id))
    return found[0]


async def _consents(conn: Connection, circle: dict[str, Any], support_person_id: uuid.UUID
                    ) -> list[dict[str, Any]]:
    today = await site_date(conn, circle["site_id"])
    rows = await store.consent_history(conn, str(circle["patient_id"]), str(support_person_id))
    return [ConsentView.model_validate(
        {**row, "status": store.as_consent(row).status_on(today)}).model_dump(mode="json")
        for row in rows]
