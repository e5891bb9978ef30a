"""Routes for the initial assessment and the level-of-care decision."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from iopnet.app import Events, RequestCause
from iopnet.auth import SiteDatabase, site_database
from iopnet.catalog import Instrument, ReferralSource, Scope
from iopnet.db import Connection
from iopnet.fields import Identifier, Strict
from iopnet.idempotency import Answer, IdempotencyKey, execute
from iopnet.problems import Problem, not_found
from services.intake import store
from services.intake.api.models import PatientView
from services.intake.domain import (
    Admission,
    AssessmentIncomplete,
    IntakeRuleBroken,
    LevelOfCare,
    PatientCase,
    Recommendation,
    Responses,
    accept,
    initial_assessment,
    override,
    recommend,
    score,
)
from services.intake.domain.level_of_care import Assessment, Decision

router = APIRouter(prefix="/v1/patients/{patient_id}", tags=["assessment and decision"])
Reader = Annotated[SiteDatabase, Depends(site_database(Scope.READ))]
Writer = Annotated[SiteDatabase, Depends(site_database(Scope.INTAKE_WRITE))]
REFUSALS = (IntakeRuleBroken, AssessmentIncomplete)


class AssessmentRequest(Strict):
    instrument: Instrument
    items: list[Any] | None = Field(default=None, description="PHQ-9 (9), GAD-7 (7), AUDIT-C (3)")
    answers: dict[str, Any] | None = Field(default=None, description="C-SSRS screener yes/no")
    sex_at_birth: str | None = Field(default=None, description="AUDIT-C cut-off")
    assessed_on: date | None = None
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


class AdmissionRequest(Strict):
    program_id: Identifier
    start_date: date
    days_per_week: int = Field(ge=3, le=5)
    planned_weeks: int = Field(ge=8, le=12)
    clinician_id: Identifier
    override_reason: str | None = Field(
        default=None, max_length=1000,
        description="Required when the rules did not recommend IOP; kept in intake only.")


class DeclineRequest(Strict):
    clinician_id: Identifier
    level: LevelOfCare | None = Field(default=None, description="Defaults to the recommended")
    override_reason: str | None = Field(default=None, max_length=1000)


@router.post("/assessments", status_code=201, responses={201: {"model": AssessmentView}})
async def record_assessment(patient_id: uuid.UUID, body: AssessmentRequest, request: Request,
                            db: Writer, events: Events, cause: RequestCause,
                            idempotency_key: IdempotencyKey = None) -> JSONResponse:
    responses = Responses(body.instrument, body.items, body.answers, body.sex_at_birth)
    result = score(responses)  # InvalidResponses → 422 naming the item at fault
    on = body.assessed_on or date.today()

    async def record(conn: Connection) -> Answer:
        cases = store.PatientCases(conn, events)
        case = await _case(cases, patient_id)
        assessment_id = str(uuid.uuid4())
        case.record_assessment(assessment_id, result, on, body.clinician_id)
        await store.save_assessment(conn, assessment_id, case, responses, result, on)
        await cases.save(case, cause)
        view = AssessmentView(assessment_id=uuid.UUID(assessment_id), instrument=body.instrument,
                              total=result.total, band=result.band.value, assessed_on=on)
        return Answer(201, view.model_dump(mode="json"))

    return await execute(request, db, idempotency_key, body, record, refusals=REFUSALS)


@router.get("/assessments", response_model=list[AssessmentView])
async def list_assessments(patient_id: uuid.UUID, db: Reader) -> list[dict[str, Any]]:
    async with db.transaction() as conn:
        await _visible(conn, patient_id)
        return await store.list_assessments(conn, str(patient_id))


@router.get("/recommendation", response_model=RecommendationView)
async def read_recommendation(patient_id: uuid.UUID, db: Reader) -> dict[str, Any]:
    """What the level-of-care rules recommend from the latest assessment."""
    async with db.transaction() as conn:
        patient = await _visible(conn, patient_id)
        assessment = await _assessment(conn, patient)
    return _recommendation_view(recommend(assessment))


@router.post("/admission", status_code=201)
async def admit_patient(patient_id: uuid.UUID, body: AdmissionRequest, request: Request,
                        db: Writer, events: Events, cause: RequestCause,
                        idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Admit to the IOP: as recommended, or against the rules with a clinician's reason."""
    async def admit(conn: Connection) -> Answer:
        cases = store.PatientCases(conn, events)
        case = await _case(cases, patient_id)
        assessment = await _assessment(conn, await _visible(conn, patient_id))
        decision = _decide(recommend(assessment), LevelOfCare.IOP, body.override_reason,
                           body.clinician_id)
        admission = Admission(**body.model_dump(exclude={"override_reason"}))
        case.admit(admission, assessment, decision)
        await cases.save(case, cause)
        return Answer(201, await _patient(conn, case))

    return await execute(request, db, idempotency_key, body, admit, refusals=REFUSALS)


@router.post("/decline", status_code=201)
async def decline_admission(patient_id: uuid.UUID, body: DeclineRequest, request: Request,
                            db: Writer, events: Events, cause: RequestCause,
                            idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Not an IOP admission: refer to the recommended level (or another, with a reason)."""
    async def decline(conn: Connection) -> Answer:
        cases = store.PatientCases(conn, events)
        case = await _case(cases, patient_id)
        recommendation = recommend(await _assessment(conn, await _visible(conn, patient_id)))
        decision = _decide(recommendation, body.level or recommendation.level,
                           body.override_reason, body.clinician_id)
        case.decline(decision)
        await cases.save(case, cause)
        return Answer(201, {**await _patient(conn, case),
                            "recommendation": _recommendation_view(recommendation)})

    return await execute(request, db, idempotency_key, body, decline, refusals=REFUSALS)


def _decide(recommendation: Recommendation, level: LevelOfCare, reason: str | None,
            clinician_id: str) -> Decision:
    if level is recommendation.level:
        return accept(recommendation, clinician_id)
    if not reason:
        raise IntakeRuleBroken(
            f"the rules recommend {recommendation.level.value}; deciding {level.value} is an "
            "override and needs override_reason")
    return override(recommendation, level, reason, clinician_id)


async def _case(cases: store.PatientCases, patient_id: uuid.UUID) -> PatientCase:
    case = await cases.get(str(patient_id))
    if case is None:
        raise not_found("patient", str(patient_id))
    return case


async def _visible(conn: Connection, patient_id: uuid.UUID) -> dict[str, Any]:
    patient = await store.find_patient(conn, str(patient_id))
    if patient is None:
        raise not_found("patient", str(patient_id))
    return patient


async def _assessment(conn: Connection, patient: dict[str, Any]) -> Assessment:
    latest = await store.latest_results(conn, str(patient["patient_id"]))
    try:
        return initial_assessment(latest, ReferralSource(patient["referral_source"]))
    except AssessmentIncomplete as incomplete:
        raise Problem(409, "assessment-incomplete", "The assessment is not complete",
                      str(incomplete)) from incomplete


async def _patient(conn: Connection, case: PatientCase) -> dict[str, Any]:
    patient = await store.find_patient(conn, case.id)
    return PatientView.model_validate(patient).model_dump(mode="json")


def _recommendation_view(recommendation: Recommendation) -> dict[str, Any]:
    return RecommendationView(
        level=recommendation.level,
        reasons=[ReasonView(code=r.code.value, text=r.text) for r in recommendation.reasons],
        urgent_alert=recommendation.urgent_alert,
        co_occurring=[c.value for c in recommendation.co_occurring],
    ).model_dump(mode="json")
