"""Routes for risk: corrections, risk reviews, the safety plan, and the case's clinical trail."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from iopnet.auth import SiteDatabase, site_database
from iopnet.catalog import (
    AdmissionDeclined,
    AssessmentEnteredInError,
    PatientAdmitted,
    RiskReviewed,
    SafetyPlanRecorded,
    SafetyPlanReviewed,
    Scope,
    parse_event,
)
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.fields import Identifier, Strict
from iopnet.idempotency import Answer, IdempotencyKey, execute
from iopnet.problems import not_found
from services.intake import commands, store
from services.intake.domain import ClinicianNote, IntakeRuleBroken, PatientCase, SafetyPlan
from services.intake.domain.private_events import (
    CorrectionNoted,
    OverrideReasoned,
    RiskReviewNoted,
)

router = APIRouter(prefix="/v1/patients/{patient_id}", tags=["risk and safety"])
Reader = Annotated[SiteDatabase, Depends(site_database(Scope.READ))]
Writer = Annotated[SiteDatabase, Depends(site_database(Scope.INTAKE_WRITE))]
Reason = Annotated[str, Field(min_length=1, max_length=1000)]


class ClinicianReason(Strict):
    clinician_id: Identifier
    reason: Reason


class RiskReviewRequest(ClinicianReason):
    findings_cleared: bool = Field(
        description="The findings recorded before this review are no longer current "
        "(false: they stay in force; the review is the same-day evaluation)")


class SafetyPlanRequest(Strict):
    clinician_id: Identifier
    plan: SafetyPlan


class SafetyPlanView(BaseModel):
    safety_plan_id: str
    plan: SafetyPlan | None = Field(description="None once the patient is forgotten")


class TrailEntry(BaseModel):
    at: datetime
    event: str
    clinician_id: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


@router.post("/assessments/{assessment_id}/entered-in-error", status_code=200)
async def correct_in_error(patient_id: uuid.UUID, assessment_id: uuid.UUID,
                           body: ClinicianReason, request: Request, db: Writer,
                           idempotency_key: IdempotencyKey = None
                           ) -> JSONResponse:
    """The assessment was entered in error: it stops counting, its risk findings included."""
    note = ClinicianNote(body.clinician_id, body.reason)

    async def correct(conn: Connection) -> Answer:
        await commands.correct_in_error(commands.unit_of_work(conn, db.events, db.cause),
                                        str(patient_id), str(assessment_id), note)
        return Answer(200, {"assessment_id": str(assessment_id), "entered_in_error": True})

    return await execute(request, db, idempotency_key, body, correct,
                         refusals=(IntakeRuleBroken,))


@router.post("/risk-reviews", status_code=201)
async def review_risk(patient_id: uuid.UUID, body: RiskReviewRequest, request: Request,
                      db: Writer, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """A clinician's documented risk review: the same-day evaluation a finding calls for."""
    review = commands.RiskReview(ClinicianNote(body.clinician_id, body.reason),
                                 body.findings_cleared)

    async def reviewed(conn: Connection) -> Answer:
        review_id = await commands.review_risk(commands.unit_of_work(conn, db.events, db.cause),
                                               str(patient_id), review)
        return Answer(201, {"review_id": review_id, "clinician_id": body.clinician_id,
                            "findings_cleared": body.findings_cleared})

    return await execute(request, db, idempotency_key, body, reviewed,
                         refusals=(IntakeRuleBroken,))


@router.post("/safety-plan", status_code=201, responses={201: {"model": SafetyPlanView}})
async def write_safety_plan(patient_id: uuid.UUID, body: SafetyPlanRequest, request: Request,
                            db: Writer, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Record the Stanley-Brown safety plan; sent again, it is a review of the plan."""
    async def write(conn: Connection) -> Answer:
        case = await commands.write_safety_plan(commands.unit_of_work(conn, db.events, db.cause),
                                                str(patient_id), body.plan, body.clinician_id)
        return Answer(201, _plan_view(case))

    return await execute(request, db, idempotency_key, body, write,
                         refusals=(IntakeRuleBroken,))


@router.get("/safety-plan", response_model=SafetyPlanView)
async def read_safety_plan(patient_id: uuid.UUID, db: Reader) -> dict[str, Any]:
    async with db.transaction() as conn:
        case = await commands.read_case(commands.unit_of_work(conn, db.events, db.cause),
                                        str(patient_id))
    if case.safety_plan_id is None:
        raise not_found("safety plan of patient", str(patient_id))
    return _plan_view(case)


@router.get("/trail", response_model=list[TrailEntry])
async def read_trail(patient_id: uuid.UUID, db: Reader) -> list[dict[str, Any]]:
    """The case's clinical trail: each decision, correction, risk review and safety plan,
    who made it and why, in the order recorded."""
    async with db.transaction() as conn:
        if not await store.is_visible(conn, str(patient_id)):
            raise not_found("patient", str(patient_id))
        history = await db.events.read_stream(conn, f"{PatientCase.stream_prefix}-{patient_id}")
    return [entry.model_dump(mode="json") for entry in _trail(history)]


def _trail(history: list[EventEnvelope]) -> list[TrailEntry]:
    entries: list[TrailEntry] = []
    for envelope in history:
        event = parse_event(envelope)
        name = type(event).__name__
        match event:
            case PatientAdmitted() | AdmissionDeclined():
                entries.append(TrailEntry(
                    at=envelope.time, event=name, clinician_id=event.decided_by,
                    detail=event.model_dump(mode="json", include=_DECISION_FIELDS)))
            case AssessmentEnteredInError():
                entries.append(TrailEntry(at=envelope.time, event=name,
                                          clinician_id=event.clinician_id,
                                          detail={"assessment_id": event.assessment_id}))
            case RiskReviewed():
                entries.append(TrailEntry(
                    at=envelope.time, event=name, clinician_id=event.clinician_id,
                    detail={"review_id": event.review_id,
                            "findings_cleared": event.findings_cleared}))
            case SafetyPlanRecorded() | SafetyPlanReviewed():
                entries.append(TrailEntry(at=envelope.time, event=name,
                                          clinician_id=event.clinician_id,
                                          detail={"safety_plan_id": event.safety_plan_id}))
            case OverrideReasoned() | CorrectionNoted() | RiskReviewNoted() if entries:
                # The reason belongs to the entry recorded just before it.
                entries[-1].detail["reason"] = event.reason
    return entries


_DECISION_FIELDS = {"recommended_level", "rules_level", "overridden", "program_id",
                    "start_date"}


def _plan_view(case: PatientCase) -> dict[str, Any]:
    assert case.safety_plan_id is not None
    return SafetyPlanView(safety_plan_id=case.safety_plan_id,
                          plan=case.safety_plan).model_dump(mode="json")

