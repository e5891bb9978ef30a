"""Routes for the initial assessment and the level-of-care decision."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from iopnet.auth import SiteDatabase, site_database
from iopnet.catalog import Instrument, Scope
from iopnet.db import Connection
from iopnet.fields import Identifier, Strict
from iopnet.idempotency import Answer, IdempotencyKey, execute
from iopnet.problems import not_found
from services.intake import commands, store
from services.intake.api.models import patient_view
from services.intake.domain import (
    Admission,
    AssessmentIncomplete,
    IntakeRuleBroken,
    LevelOfCare,
    Recommendation,
    Responses,
    Scored,
)

router = APIRouter(prefix="/v1/patients/{patient_id}", tags=["assessment and decision"])
Reader = Annotated[SiteDatabase, Depends(site_database(Scope.READ))]
Writer = Annotated[SiteDatabase, Depends(site_database(Scope.INTAKE_WRITE))]
REFUSALS = (IntakeRuleBroken, AssessmentIncomplete)


class AssessmentRequest(Strict):
    instrument: Instrument
    items: list[Any] | None = Field(default=None, description="PHQ-9 (9), GAD-7 (7), AUDIT-C (3)")
    answers: dict[str, Any] | None = Field(default=None, description="C-SSRS screener yes/no")
    sex_at_birth: str | None = Field(default=None, description="AUDIT-C cut-off")
    assessed_on: date | None = Field(
        default=None, description="Defaults to the site's today; never later, and not older "
        "than the instrument's window (PHQ-9, GAD-7 14 days; C-SSRS 30; AUDIT-C 365)")
    clinician_id: Identifier | None = None


class AssessmentView(BaseModel):
    assessment_id: uuid.UUID
    instrument: Instrument
    total: int
    band: str
    assessed_on: date


class ReasonView(BaseModel):
    code: str
    text: str


class RecommendationView(BaseModel):
    level: LevelOfCare
    reasons: list[ReasonView]
    urgent_alert: bool
    co_occurring: list[str]
    safety_plan_required: bool


class AdmissionRequest(Strict):
    program_id: Identifier
    start_date: date
    days_per_week: int = Field(ge=3, le=5)
    planned_weeks: int = Field(ge=8, le=12)
    clinician_id: Identifier = Field(description="The assigned clinician")
    decided_by: Identifier | None = Field(
        default=None, description="The clinician who decided; the assigned one by default")
    override_reason: str | None = Field(
        default=None, max_length=1000,
        description="Required when the rules did not recommend IOP; kept in intake only.")
    certification: CertificationRequest | None = Field(
        default=None, description="The physician's certification of the need for IOP")


class CertificationRequest(Strict):
    certified_by: Identifier = Field(description="The certifying physician")
    certified_on: date | None = Field(default=None, description="Defaults to the site's today")
    diagnosis_codes: list[str] = Field(min_length=1, max_length=10,
                                       examples=[["F33.1"]],
                                       description="ICD-10-CM F32.x or F33.x")


class DeclineRequest(Strict):
    clinician_id: Identifier
    level: LevelOfCare | None = Field(default=None, description="Defaults to the recommended")
    override_reason: str | None = Field(default=None, max_length=1000)


@router.post("/assessments", status_code=201, responses={201: {"model": AssessmentView}})
async def record_assessment(patient_id: uuid.UUID, body: AssessmentRequest, request: Request,
                            db: Writer, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    # InvalidResponses → 422 naming the item at fault, before anything is read
    scored = Scored.of(Responses(body.instrument, body.items, body.answers, body.sex_at_birth))

    async def record(conn: Connection) -> Answer:
        assessment_id, on = await commands.record_assessment(
            commands.unit_of_work(conn, db.events, db.cause), str(patient_id), scored,
            body.assessed_on, body.clinician_id)
        view = AssessmentView(assessment_id=uuid.UUID(assessment_id), instrument=body.instrument,
                              total=scored.result.total, band=scored.result.band.value,
                              assessed_on=on)
        return Answer(201, view.model_dump(mode="json"))

    return await execute(request, db, idempotency_key, body, record, refusals=REFUSALS)


@router.get("/assessments", response_model=list[AssessmentView])
async def list_assessments(patient_id: uuid.UUID, db: Reader) -> list[dict[str, Any]]:
    async with db.transaction() as conn:
        if not await store.is_visible(conn, str(patient_id)):
            raise not_found("patient", str(patient_id))
        return await store.list_assessments(conn, str(patient_id))


@router.get("/recommendation", response_model=RecommendationView)
async def read_recommendation(patient_id: uuid.UUID, db: Reader) -> dict[str, Any]:
    """What the level-of-care rules recommend from the latest assessment."""
    async with db.transaction() as conn:
        recommended = await commands.recommendation(commands.unit_of_work(conn, db.events,
                                                    db.cause),
                                                    str(patient_id))
    return _recommendation_view(recommended)


@router.post("/admission", status_code=201)
async def admit_patient(patient_id: uuid.UUID, body: AdmissionRequest, request: Request,
                        db: Writer, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Admit to the IOP: as recommended, or against the rules with a clinician's reason."""
    admission = Admission(**body.model_dump(
        exclude={"override_reason", "decided_by", "certification"}))
    certified = _certification(body.certification)

    async def admit(conn: Connection) -> Answer:
        case = await commands.admit(commands.unit_of_work(conn, db.events, db.cause),
                                    str(patient_id),
                                    admission, body.override_reason, body.decided_by,
                                    certified)
        return Answer(201, patient_view(case))

    return await execute(request, db, idempotency_key, body, admit, refusals=REFUSALS)


@router.post("/decline", status_code=201)
async def decline_admission(patient_id: uuid.UUID, body: DeclineRequest, request: Request,
                            db: Writer, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Not an IOP admission: refer to the recommended level (or another, with a reason)."""
    order = commands.Decline(body.clinician_id, body.level, body.override_reason)

    async def decline(conn: Connection) -> Answer:
        case, recommended = await commands.decline(commands.unit_of_work(conn, db.events, db.cause),
                                                   str(patient_id), order)
        return Answer(201, {**patient_view(case),
                            "recommendation": _recommendation_view(recommended)})

    return await execute(request, db, idempotency_key, body, decline, refusals=REFUSALS)


@router.post("/certification", status_code=201)
async def certify_patient(patient_id: uuid.UUID, body: CertificationRequest, request: Request,
                          db: Writer, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """A physician certifies, or recertifies, an admitted patient's need for IOP."""
    certified = _certification(body)
    assert certified is not None

    async def certify(conn: Connection) -> Answer:
        case = await commands.certify(commands.unit_of_work(conn, db.events, db.cause),
                                      str(patient_id), certified)
        return Answer(201, patient_view(case))

    return await execute(request, db, idempotency_key, body, certify, refusals=REFUSALS)


def _certification(body: CertificationRequest | None) -> commands.CertificationOrder | None:
    if body is None:
        return None
    return commands.CertificationOrder(body.certified_by, body.diagnosis_codes,
                                       body.certified_on)


def _recommendation_view(recommendation: Recommendation) -> dict[str, Any]:
    return RecommendationView(
        level=recommendation.level,
        reasons=[ReasonView(code=r.code.value, text=r.text) for r in recommendation.reasons],
        urgent_alert=recommendation.urgent_alert,
        co_occurring=[c.value for c in recommendation.co_occurring],
        safety_plan_required=recommendation.safety_plan_required,
    ).model_dump(mode="json")
