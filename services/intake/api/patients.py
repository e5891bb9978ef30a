"""Routes for patients: refer, admit, transfer, read."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from iopnet.app import Events, RequestCause
from iopnet.auth import SiteDatabase, site_database
from iopnet.catalog import ReferralSource, Scope
from iopnet.db import Connection
from iopnet.fields import Identifier, Strict
from iopnet.idempotency import Answer, IdempotencyKey, execute
from iopnet.problems import Problem, not_found
from services.intake import store
from services.intake.api.models import PatientView
from services.intake.domain import IntakeRuleBroken, PatientCase, Referral

router = APIRouter(prefix="/v1", tags=["patients"])
Reader = Annotated[SiteDatabase, Depends(site_database(Scope.READ))]
Writer = Annotated[SiteDatabase, Depends(site_database(Scope.INTAKE_WRITE))]
Operator = Annotated[SiteDatabase, Depends(site_database(Scope.OPERATOR))]


class PatientIdentity(Strict):
    given_name: str = Field(min_length=1, max_length=100)
    family_name: str = Field(min_length=1, max_length=100)
    birth_date: date


class ReferralRequest(Strict):
    site_id: Identifier | None = Field(
        default=None, description="The receiving site; defaults to the key's site.")
    source: ReferralSource
    referred_on: date | None = None
    patient: PatientIdentity


class TransferRequest(Strict):
    to_site_id: Identifier


@router.post("/referrals", status_code=201, responses={201: {"model": PatientView}})
async def refer_patient(body: ReferralRequest, request: Request, db: Writer, events: Events,
                        cause: RequestCause, idempotency_key: IdempotencyKey = None
                        ) -> JSONResponse:
    """Refer a patient to a site: the start of every path through the program."""
    site_id = body.site_id or db.principal.site_id
    if not db.principal.may_act_for(site_id):
        raise Problem(403, "forbidden", "The key is not for that site",
                      errors=[{"pointer": "#/site_id"}])

    async def refer(conn: Connection) -> Answer:
        case = PatientCase(str(uuid.uuid4()))
        case.refer(Referral(str(uuid.uuid4()), site_id, body.source,
                            body.referred_on or date.today()))
        who = body.patient
        await store.record_identity(conn, case.id, site_id, who.given_name, who.family_name,
                                    who.birth_date)
        await store.PatientCases(conn, events).save(case, cause)
        return Answer(201, await _view(conn, case.id))

    return await execute(request, db, idempotency_key, body, refer, refusals=(IntakeRuleBroken,))


@router.post("/patients/{patient_id}/transfer", responses={200: {"model": PatientView}})
async def transfer_patient(patient_id: uuid.UUID, body: TransferRequest, request: Request,
                           db: Operator, events: Events, cause: RequestCause,
                           idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Move a patient's care to another site (network operator): the old site keeps history."""
    async def transfer(conn: Connection) -> Answer:
        if not await conn.fetchval("SELECT true FROM sites WHERE site_id = $1", body.to_site_id):
            raise Problem(422, "validation", "No such site", errors=[{"pointer": "#/to_site_id"}])
        cases = store.PatientCases(conn, events)
        case = await _case(cases, patient_id)
        case.transfer(body.to_site_id)
        await cases.save(case, cause)
        return Answer(200, await _view(conn, case.id))

    return await execute(request, db, idempotency_key, body, transfer,
                         refusals=(IntakeRuleBroken,))


@router.get("/patients/{patient_id}", response_model=PatientView)
async def read_patient(patient_id: uuid.UUID, db: Reader) -> dict[str, Any]:
    async with db.transaction() as conn:
        patient = await store.find_patient(conn, str(patient_id))
    if patient is None:
        raise not_found("patient", str(patient_id))
    return patient


async def _case(cases: store.PatientCases, patient_id: uuid.UUID) -> PatientCase:
    case = await cases.get(str(patient_id))
    if case is None:
        raise not_found("patient", str(patient_id))
    return case


async def _view(conn: Connection, patient_id: str) -> dict[str, Any]:
    patient = await store.find_patient(conn, patient_id)
    return PatientView.model_validate(patient).model_dump(mode="json")


class CensusLine(BaseModel):
    site_id: str
    status: str
    patients: int


@router.get("/census", response_model=list[CensusLine], tags=["network"])
async def read_census(db: Reader) -> list[dict[str, Any]]:
    """Patients by site and status: the caller's site, or every site for the operator."""
    async with db.transaction() as conn:
        return await store.census(conn)
