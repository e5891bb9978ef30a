"""Routes for a patient's messages, their delivery log, and contact details."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from iopnet.auth import SiteDatabase, site_database
from iopnet.catalog import Scope
from iopnet.db import Connection
from iopnet.idempotency import Answer, IdempotencyKey, execute
from iopnet.problems import not_found
from services.notifications import commands, domain, store
from services.notifications.api.models import (
    DeliveriesView,
    DeliveryView,
    MessageView,
    PatientContact,
    PatientContactView,
    PatientMessagesView,
    SupportPersonContact,
    SupportPersonContactView,
)

router = APIRouter(prefix="/v1", tags=["messages"])
Reader = Annotated[SiteDatabase, Depends(site_database(Scope.READ))]
Admin = Annotated[SiteDatabase, Depends(site_database(Scope.NOTIFICATIONS_ADMIN))]


@router.get("/patients/{patient_id}", response_model=PatientMessagesView)
async def read_patient_messages(patient_id: uuid.UUID, db: Reader) -> PatientMessagesView:
    """The patient's messages: what, to whom (by role), by which channel, and how it went."""
    async with db.transaction() as conn:
        patient = await store.find_patient(conn, str(patient_id))
        messages = await store.messages_for(conn, str(patient_id))
    if patient is None and not messages:
        raise not_found("patient", str(patient_id))
    site_id = patient["site_id"] if patient else messages[0]["site_id"]
    return PatientMessagesView(patient_id=patient_id, site_id=site_id,
                               messages=[MessageView.model_validate(m) for m in messages])


@router.get("/messages/{message_id}/deliveries", response_model=DeliveriesView)
async def read_deliveries(message_id: uuid.UUID, db: Reader) -> DeliveriesView:
    """Every delivery attempt of one message, oldest first."""
    async with db.transaction() as conn:
        deliveries = await store.deliveries_of(conn, message_id)
    if deliveries is None:
        raise not_found("message", str(message_id))
    return DeliveriesView(message_id=message_id, deliveries=[
        DeliveryView(attempt=d["attempt"], at=d["at"], outcome=d["outcome"],
                     reason=domain.failure_reason(d["error_class"])) for d in deliveries])


@router.put("/patients/{patient_id}/contact", responses={200: {"model": PatientContactView}})
async def set_patient_contact(patient_id: uuid.UUID, body: PatientContact, request: Request,
                              db: Admin, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """The patient's email. It lives here only: no published event carries it."""
    async def record(conn: Connection) -> Answer:
        with known_patient(patient_id):
            await commands.set_patient_contact(commands.unit_of_work(conn, db.cause),
                                               str(patient_id), body.email)
        return Answer(200, {"patient_id": str(patient_id), "email": body.email})

    return await execute(request, db, idempotency_key, body, record)


@router.put("/support-persons/{support_person_id}/contact",
            responses={200: {"model": SupportPersonContactView}})
async def set_support_person_contact(support_person_id: uuid.UUID, body: SupportPersonContact,
                                     request: Request, db: Admin,
                                     idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """A support person's email, for the patient they support (family owns the link)."""
    async def record(conn: Connection) -> Answer:
        with known_patient(body.patient_id):
            await commands.set_support_person_contact(
                commands.unit_of_work(conn, db.cause), str(support_person_id),
                str(body.patient_id), body.email)
        return Answer(200, {"support_person_id": str(support_person_id),
                            **body.model_dump(mode="json")})

    return await execute(request, db, idempotency_key, body, record)


@contextmanager
def known_patient(patient_id: uuid.UUID) -> Iterator[None]:
    """A patient notifications has not heard of is a 404."""
    try:
        yield
    except commands.UnknownPatient:
        raise not_found("patient", str(patient_id)) from None
