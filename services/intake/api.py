"""Intake's HTTP API: refer and admit patients. Thin: validation, then the domain."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from iopnet.app import Events, Pool, RequestCause
from iopnet.catalog import ReferralSource
from iopnet.db import Connection
from iopnet.idempotency import HEADER, Answer, fingerprint, run_once
from iopnet.problems import Problem, not_found
from services.intake import store
from services.intake.domain import Admission, IntakeRuleBroken, PatientCase, Referral

router = APIRouter(prefix="/v1", tags=["intake"])
IdempotencyKey = Annotated[str | None, Header(alias=HEADER)]
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PatientIdentity(Strict):
    given_name: str = Field(min_length=1, max_length=100)
    family_name: str = Field(min_length=1, max_length=100)
    birth_date: date


class ReferralRequest(Strict):
    site_id: Identifier
    source: ReferralSource
    referred_on: date | None = None
    patient: PatientIdentity


class AdmissionRequest(Strict):
    program_id: Identifier
    start_date: date
    days_per_week: int = Field(ge=3, le=5)
    planned_weeks: int = Field(ge=8, le=12)
    clinician_id: Identifier


class PatientView(BaseModel):
    patient_id: uuid.UUID
    site_id: str
    status: str
    referral_id: uuid.UUID
    referral_source: str
    referred_on: date
    program_id: str | None
    start_date: date | None
    days_per_week: int | None
    planned_weeks: int | None
    clinician_id: str | None
    version: int


@router.post("/referrals", status_code=201, responses={201: {"model": PatientView}})
async def refer_patient(
    body: ReferralRequest, request: Request, pool: Pool, events: Events, cause: RequestCause,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def refer(conn: Connection) -> Answer:
        case = PatientCase(str(uuid.uuid4()))
        case.refer(Referral(
            referral_id=str(uuid.uuid4()), site_id=body.site_id, source=body.source,
            referred_on=body.referred_on or date.today(),
        ))
        who = body.patient
        await store.record_identity(conn, case.patient_id, body.site_id, who.given_name,
                                    who.family_name, who.birth_date)
        await store.PatientCases(conn, events).save(case, cause)
        return Answer(201, await _view(conn, case.patient_id))

    return await _run(request, pool, idempotency_key, body, refer)


@router.post("/patients/{patient_id}/admission", status_code=201,
             responses={201: {"model": PatientView}})
async def admit_patient(
    patient_id: uuid.UUID, body: AdmissionRequest, request: Request, pool: Pool,
    events: Events, cause: RequestCause, idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def admit(conn: Connection) -> Answer:
        cases = store.PatientCases(conn, events)
        case = await cases.get(str(patient_id))
        if case is None:
            raise not_found("patient", str(patient_id))
        case.admit(Admission(**body.model_dump()))
        await cases.save(case, cause)
        return Answer(201, await _view(conn, case.patient_id))

    return await _run(request, pool, idempotency_key, body, admit)


@router.get("/patients/{patient_id}", response_model=PatientView)
async def read_patient(patient_id: uuid.UUID, pool: Pool) -> dict[str, Any]:
    patient = await store.find_patient(pool, str(patient_id))
    if patient is None:
        raise not_found("patient", str(patient_id))
    return patient


async def _run(request: Request, pool: Pool, key: str | None, body: BaseModel, command: Any
               ) -> JSONResponse:
    request_print = fingerprint(request.method, request.url.path, body.model_dump(mode="json"))
    try:
        answer = await run_once(pool, key, request_print, command)
    except IntakeRuleBroken as broken:
        raise Problem(409, "intake-rule", "Not allowed in the case's current state",
                      str(broken)) from broken
    return JSONResponse(answer.body, status_code=answer.status)


async def _view(conn: Connection, patient_id: str) -> dict[str, Any]:
    patient = await store.find_patient(conn, patient_id)
    return PatientView.model_validate(patient).model_dump(mode="json")
