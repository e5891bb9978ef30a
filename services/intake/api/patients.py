"""Routes for patients: refer, transfer, forget, read."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from iopnet.auth import SiteDatabase, site_database
from iopnet.auth.registry import site_date
from iopnet.catalog import ReferralSource, Scope
from iopnet.db import Connection
from iopnet.fields import Identifier, Strict
from iopnet.idempotency import Answer, IdempotencyKey, execute
from iopnet.problems import Problem, not_found
from services.intake import commands, store
from services.intake.api.models import PatientView, patient_view
from services.intake.domain import (
    ForgettingOrder,
    Identity,
    IntakeRuleBroken,
    StillRetained,
)

router = APIRouter(prefix="/v1", tags=["patients"])
Reader = Annotated[SiteDatabase, Depends(site_database(Scope.READ))]
Writer = Annotated[SiteDatabase, Depends(site_database(Scope.INTAKE_WRITE))]
Operator = Annotated[SiteDatabase, Depends(site_database(Scope.OPERATOR))]


class GuardianIdentity(Strict):
    given_name: str = Field(min_length=1, max_length=100)
    family_name: str = Field(min_length=1, max_length=100)
    relationship: str = Field(min_length=1, max_length=50, examples=["mother"])


class PatientIdentity(Strict):
    given_name: str = Field(min_length=1, max_length=100)
    family_name: str = Field(min_length=1, max_length=100)
    birth_date: date = Field(description="Not after the site's today")
    guardian: GuardianIdentity | None = Field(default=None, description="Required under 18")


class ReferralRequest(Strict):
    site_id: Identifier | None = Field(
        default=None, description="The receiving site; defaults to the key's site.")
    source: ReferralSource
    referred_on: date | None = Field(default=None, description="Defaults to the site's today")
    patient: PatientIdentity


class TransferRequest(Strict):
    to_site_id: Identifier


class ForgettingRequest(Strict):
    reason: str = Field(min_length=1, max_length=500,
                        description="Why; kept in intake with the operator's key id. "
                        "No personal data here.")
    override_retention: bool = Field(
        default=False, description="Forget inside the site's retention period.")


class ForgottenView(BaseModel):
    patient_id: uuid.UUID
    forgotten: bool
    retention_overridden: bool


@router.post("/referrals", status_code=201, responses={201: {"model": PatientView}})
async def refer_patient(body: ReferralRequest, request: Request, db: Writer,
                        idempotency_key: IdempotencyKey = None
                        ) -> JSONResponse:
    """Refer a patient to a site: the start of every path through the program."""
    site_id = body.site_id or db.principal.site_id
    if not db.principal.may_act_for(site_id):
        raise Problem(403, "forbidden", "The key is not for that site",
                      errors=[{"pointer": "#/site_id"}])
    identity = Identity.model_validate(body.patient.model_dump())

    async def refer(conn: Connection) -> Answer:
        case = await commands.refer(commands.unit_of_work(conn, db.events, db.cause), site_id,
                                    body.source, body.referred_on, identity)
        return Answer(201, patient_view(case))

    return await execute(request, db, idempotency_key, body, refer, refusals=(IntakeRuleBroken,))


@router.post("/patients/{patient_id}/transfer", responses={200: {"model": PatientView}})
async def transfer_patient(patient_id: uuid.UUID, body: TransferRequest, request: Request,
                           db: Operator, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Move a patient's care to another site (network operator): the old site keeps history."""
    async def transfer(conn: Connection) -> Answer:
        case = await commands.transfer(commands.unit_of_work(conn, db.events, db.cause),
                                       str(patient_id), body.to_site_id)
        return Answer(200, patient_view(case))

    return await execute(request, db, idempotency_key, body, transfer,
                         refusals=(IntakeRuleBroken,))


@router.post("/patients/{patient_id}/forget", responses={200: {"model": ForgottenView}})
async def forget_patient(patient_id: uuid.UUID, body: ForgettingRequest, request: Request,
                         db: Operator, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Forget a patient network-wide (network operator): names and answers become unreadable
    in every service, and the patient's rows are deleted. Refused (409) inside the site's
    retention period unless ``override_retention``; forgetting again changes nothing."""
    order = ForgettingOrder(body.reason, db.principal.key_id, body.override_retention)

    async def forget(conn: Connection) -> Answer:
        case = await commands.forget(commands.unit_of_work(conn, db.events, db.cause),
                                     str(patient_id), order, datetime.now(UTC))
        return Answer(200, ForgottenView(
            patient_id=patient_id, forgotten=case.forgotten,
            retention_overridden=case.retention_overridden).model_dump(mode="json"))

    return await execute(request, db, idempotency_key, body, forget, refusals=(StillRetained,))


@router.get("/patients/{patient_id}", response_model=PatientView)
async def read_patient(patient_id: uuid.UUID, db: Reader) -> dict[str, Any]:
    """The case; a certification says whether its recertification is overdue at the site."""
    async with db.transaction() as conn:
        patient = await store.find_patient(conn, str(patient_id))
        if patient is None:
            raise not_found("patient", str(patient_id))
        if patient["certification"] is not None:
            today = await site_date(conn, patient["site_id"])
            patient["certification"]["overdue"] = today > patient["certification"][
                "recertify_by"]
    return patient


class CensusLine(BaseModel):
    site_id: str
    status: str
    patients: int


@router.get("/census", response_model=list[CensusLine], tags=["network"])
async def read_census(db: Reader) -> list[dict[str, Any]]:
    """Patients by site and status: the caller's site, or every site for the operator."""
    async with db.transaction() as conn:
        return await store.census(conn)
