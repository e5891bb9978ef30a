"""Routes for progress and where care goes next: step-down, step-up, discharge."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from iopnet.auth import SiteDatabase
from iopnet.auth.registry import site_date
from iopnet.db import Connection
from iopnet.idempotency import Answer, IdempotencyKey, execute
from iopnet.unit_of_work import UnitOfWork
from services.plans import commands, store
from services.plans.api.common import (
    Reader,
    Writer,
    episode_row,
    policy_view,
    step_up_view,
    transition_view,
)
from services.plans.api.models import (
    DischargeRequest,
    EvaluationView,
    ProgressView,
    StepDownRequest,
    StepUpRequest,
    TransitionView,
)
from services.plans.commands import check_as_of, evaluation_view, safety_plan_view
from services.plans.domain import Confirmation, PlanRuleBroken, StepDownOrder
from services.plans.domain import progress as course

router = APIRouter(prefix="/v1", tags=["progress and step-down"])
AsOf = Annotated[date | None, Query(description="Defaults to today in the site's time zone")]


@router.get("/patients/{patient_id}/progress", response_model=ProgressView)
async def read_progress(patient_id: uuid.UUID, db: Reader, as_of: AsOf = None
                        ) -> dict[str, Any]:
    """Attendance, the weekly PHQ-9 against baseline, risk signals, goals, step-up signs."""
    async with db.transaction() as conn:
        row = await episode_row(conn, patient_id)
        ep = store.episode_of(row)
        day = as_of or await site_date(conn, ep.site_id)
        record = await store.load_progress(conn, ep)
        plan = await store.find_plan(conn, ep.patient_id)
        contents = await store.load_contents(conn, ep.patient_id) if plan else None
    attendance = course.attendance(record.sessions, day)
    points = course.trajectory(record, day)
    goals = course.objectives(contents, record, day) if contents else []
    latest = points[-1] if points else None
    return {
        "patient_id": patient_id, "as_of": day, "plan_status": row["plan_status"],
        "program_week": max(0, (day - ep.starts_on).days // 7 + 1),
        "attendance": {**vars(attendance), "attendance_rate": attendance.rate},
        "phq9": {"baseline": ep.baseline_phq9, "latest": latest.total if latest else None,
                 "response": bool(latest and latest.response),
                 "remission": bool(latest and latest.remission),
                 "trend": latest.trend if latest else None,
                 "trajectory": [vars(p) for p in points]},
        "risk_signals": [vars(s) for s in record.signals if s.observed_on <= day],
        "goals": [vars(g) for g in goals],
        "goals_met": sum(1 for g in goals if g.status is course.ObjectiveStatus.MET),
        "step_up": step_up_view(course.step_up(record, max(day, ep.starts_on))),
    }


@router.get("/patients/{patient_id}/step-down-evaluation", response_model=EvaluationView)
async def evaluate_step_down(patient_id: uuid.UUID, db: Reader, as_of: AsOf = None
                             ) -> dict[str, Any]:
    """The site's step-down criteria, each met or not, as of a day (default today)."""
    async with db.transaction() as conn:
        row = await episode_row(conn, patient_id)
        ep = store.episode_of(row)
        site = await store.site_rules(conn, ep.site_id)
        day = as_of or site.today()
        check_as_of(day, ep, "query:as_of")
        policy = site.step_down
        record = await store.load_progress(conn, ep)
        safety_plan = await store.check_safety_plan(conn, record, ep.patient_id, day)
    evaluation = course.evaluate(record, policy, day)
    return {"patient_id": patient_id, "as_of": day, "plan_status": row["plan_status"],
            **evaluation_view(evaluation), "policy": policy_view(policy),
            "step_up": step_up_view(course.step_up(record, day)),
            "safety_plan": safety_plan_view(safety_plan)}


@router.post("/patients/{patient_id}/step-down", status_code=201,
             responses={201: {"model": TransitionView},
                        409: {"description": "Criteria unmet (with each criterion), the "
                              "safety plan not reviewed since the latest risk finding "
                              "(safety-plan-required), or closed"}})
async def step_down(patient_id: uuid.UUID, body: StepDownRequest, request: Request,
                    db: Writer, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """A clinician confirms step-down to standard outpatient, with the aftercare plan.

    Refused (409, with every criterion) unless the site's criteria are met today, or the
    clinician overrides them with ``override_reason``; a risk signal in the
    evaluation period cannot be overridden. When risk was ever found, the safety plan
    must be written or reviewed (at intake) since the latest finding (409
    ``safety-plan-required`` otherwise; no override). A past ``effective_on`` needs
    ``backdate_reason`` and changes nothing of what is evaluated.
    """
    command = commands.StepDownCommand(
        str(patient_id), StepDownOrder(body.effective_on, body.follow_up_within_days,
                                       tuple(body.aftercare), body.override_reason,
                                       body.backdate_reason),
        body.as_of, Confirmation(body.clinician_id, db.principal.key_id))

    async def step(conn: Connection) -> Answer:
        done = await commands.step_down(commands.unit_of_work(conn, db.cause, db.events), command)
        return Answer(201, {**transition_view(done.transition), "as_of": done.as_of.isoformat(),
                            **evaluation_view(done.evaluation)})

    return await execute(request, db, idempotency_key, body, step,
                         refusals=(PlanRuleBroken,))


@router.post("/patients/{patient_id}/step-up", status_code=201,
             responses={201: {"model": TransitionView}})
async def step_up(patient_id: uuid.UUID, body: StepUpRequest, request: Request, db: Writer,
                  idempotency_key: IdempotencyKey = None
                  ) -> JSONResponse:
    """To partial hospitalization or inpatient care, when risk rises; closes the plan."""
    command = commands.StepUpCommand(str(patient_id), body.to_level, body.reason_codes,
                                     body.effective_on,
                                     Confirmation(body.clinician_id, db.principal.key_id))
    return await _close_plan(request, db, idempotency_key, body,
                             partial(commands.step_up, command=command))


@router.post("/patients/{patient_id}/discharge", status_code=201,
             responses={201: {"model": TransitionView},
                        409: {"description": "Completed, after a risk finding, without the "
                              "safety plan reviewed since (safety-plan-required), or closed"}})
async def discharge(patient_id: uuid.UUID, body: DischargeRequest, request: Request,
                    db: Writer, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Completed, left against advice, or transferred out; closes the plan. Completed
    after a risk finding needs the safety plan written or reviewed since the latest one;
    leaving against advice or a transfer is never held back (its summary shows the plan)."""
    command = commands.DischargeCommand(str(patient_id), body.outcome, body.effective_on,
                                        Confirmation(body.clinician_id, db.principal.key_id),
                                        body.follow_up_within_days)
    return await _close_plan(request, db, idempotency_key, body,
                             partial(commands.discharge, command=command))


async def _close_plan(request: Request, db: SiteDatabase, idempotency_key: str | None,
                      body: BaseModel,
                      close: Callable[[UnitOfWork], Awaitable[commands.Transition]]
                      ) -> JSONResponse:
    """Step-up and discharge: one handler, answered with the transition."""
    async def command(conn: Connection) -> Answer:
        done = await close(commands.unit_of_work(conn, db.cause, db.events))
        return Answer(201, transition_view(done))

    return await execute(request, db, idempotency_key, body, command,
                         refusals=(PlanRuleBroken,))
