"""Routes for a patient: the enrollment, the schedule and attendance, outcome measures."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from iopnet.auth import SiteDatabase, site_database
from iopnet.catalog import Instrument, Modality, RiskSignal, Scope, SessionKind
from iopnet.db import Connection
from iopnet.envelope import utc_now
from iopnet.eventstore import Cause
from iopnet.fields import Identifier, Strict
from iopnet.idempotency import Answer, IdempotencyKey, execute
from iopnet.problems import not_found
from services.sessions import commands, store
from services.sessions.domain import (
    Enrollment,
    SessionsRuleBroken,
    phq9_band,
)
from services.sessions.domain.enrollment import ScheduledSession
from services.sessions.domain.instruments import gad7_band
from services.sessions.domain.outcomes import Measure
from services.sessions.domain.schedule import local_date

router = APIRouter(prefix="/v1/patients", tags=["patients"])
Reader = Annotated[SiteDatabase, Depends(site_database(Scope.READ))]
Writer = Annotated[SiteDatabase, Depends(site_database(Scope.SESSIONS_WRITE))]
Item = Annotated[int, Field(strict=True, ge=0, le=3)]
#: A read records nothing; its unit of work needs a cause all the same.
READING = Cause("read", "read")


class ScheduleRefusalView(BaseModel):
    """The program's groups on the patient's days make a week outside the level's hours."""

    level: str
    days_per_week: int
    planned_weekly_hours: float
    minimum_hours: float
    below_hours: float | None


class EnrollmentView(BaseModel):
    patient_id: uuid.UUID
    site_id: str
    program_id: str
    days_per_week: int
    planned_weeks: int
    weekly_hours_target: int
    starts_on: date
    ends_on: date
    status: str
    clinician_id: str | None
    time_zone: str
    ended_on: date | None
    end_reason: str | None
    schedule_refusal: ScheduleRefusalView | None = Field(
        default=None, description="Why nothing is scheduled (status schedule_refused)")


class SessionView(BaseModel):
    session_id: str
    kind: SessionKind
    modality: Modality
    group_id: str | None
    starts_at: datetime
    local_date: date
    duration_minutes: int
    clinician_id: str
    status: str = Field(description="scheduled, waitlisted, cancelled, attended, late, absent "
                                    "or excused")
    late_minutes: int
    credited_minutes: int


class WeekView(BaseModel):
    week: int
    week_start: date
    hours: float
    below_minimum: bool = Field(description="A finished week under the site's minimum")
    finished: bool = Field(description="Every expected session recorded, a later week "
                           "recorded, or the week is over in the site's time zone")
    flagged: bool = Field(description="AttendanceBelowMinimum was recorded for it")


class OutreachView(BaseModel):
    consecutive_absences: int
    last_missed_session_id: str


class AttendanceView(BaseModel):
    patient_id: uuid.UUID
    weekly_hours_target: int
    minimum_weekly_hours: float
    outreach_after_absences: int
    consecutive_absences: int
    weeks: list[WeekView]
    outreach: list[OutreachView]
    sessions: list[SessionView]


class CssrsAnswers(Strict):
    """The C-SSRS screener's six questions, "since last visit"."""

    wish_to_be_dead: bool
    suicidal_thoughts: bool
    method: bool
    intent: bool
    plan: bool
    behavior: bool


class OutcomeRequest(Strict):
    """A PHQ-9 (9 ``items``), a GAD-7 (7 ``items``) or a C-SSRS (``answers``)."""

    instrument: Literal[Instrument.PHQ9, Instrument.GAD7, Instrument.CSSRS]
    items: list[Item] | None = Field(default=None, max_length=9,
                                     description="PHQ-9 items 1-9 or GAD-7 items 1-7, each 0-3")
    answers: CssrsAnswers | None = None
    measured_on: date


class MeasureView(BaseModel):
    measure_id: str
    instrument: Instrument
    total: int = Field(description="The score; a C-SSRS's number of yes answers")
    band: str = Field(description="The instrument's band; a C-SSRS's triage")
    item9: int | None
    measured_on: date
    program_week: int
    risk_signals: list[RiskSignal]


class CssrsTaskView(BaseModel):
    due_on: date
    phq9_measure_id: str


class OutcomesView(BaseModel):
    patient_id: uuid.UUID
    baseline_phq9: int | None
    measures: list[MeasureView]
    cssrs_due: list[CssrsTaskView] = Field(
        description="C-SSRS screens a PHQ-9's item 9 made due, not done yet")


@router.get("/{patient_id}", response_model=EnrollmentView)
async def read_enrollment(patient_id: uuid.UUID, db: Reader) -> dict[str, Any]:
    async with db.transaction() as conn:
        enrollment = await store.find_enrollment(conn, str(patient_id))
    if enrollment is None:
        raise not_found("patient", str(patient_id))
    return enrollment


class DaysRequest(Strict):
    days_per_week: int = Field(ge=3, le=5, description="An IOP meets 3 to 5 days a week")
    clinician_id: Identifier
    reason: str = Field(min_length=10, max_length=2000, description="Kept in sessions only")


@router.put("/{patient_id}/schedule", response_model=EnrollmentView)
async def change_schedule(patient_id: uuid.UUID, body: DaysRequest, request: Request,
                          db: Writer, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Make the schedule again with other days a week. Refused (422 at
    ``#/days_per_week``, with the hours it reaches) unless the program's groups on those
    days and weekly counseling come to at least 9 hours and under 20 (42 CFR 410.44)."""
    change = commands.DaysChange(str(patient_id), body.days_per_week, body.clinician_id,
                                 body.reason)

    async def reschedule(conn: Connection) -> Answer:
        try:
            await commands.change_days(commands.unit_of_work(conn, db.cause), change, utc_now())
        except commands.UnknownPatient:
            raise not_found("patient", str(patient_id)) from None
        enrollment = await store.find_enrollment(conn, str(patient_id))
        return Answer(200, EnrollmentView.model_validate(enrollment).model_dump(mode="json"))

    return await execute(request, db, idempotency_key, body, reschedule,
                         refusals=(SessionsRuleBroken,))


@router.get("/{patient_id}/sessions", response_model=list[SessionView])
async def read_schedule(patient_id: uuid.UUID, db: Reader) -> list[dict[str, Any]]:
    async with db.transaction() as conn:
        enrollment = await enrollment_of(conn, patient_id)
    return [session_view(enrollment, s) for s in enrollment.schedule_sessions()]


@router.get("/{patient_id}/attendance", response_model=AttendanceView)
async def read_attendance(patient_id: uuid.UUID, db: Reader) -> dict[str, Any]:
    async with db.transaction() as conn:
        enrollment = await enrollment_of(conn, patient_id)
        policy = await store.attendance_policy(conn, enrollment)
    terms = enrollment.known_terms
    return AttendanceView(
        patient_id=patient_id, weekly_hours_target=terms.weekly_hours_target,
        minimum_weekly_hours=policy.min_weekly_hours,
        outreach_after_absences=policy.outreach_after_absences,
        consecutive_absences=enrollment.absence_streak(),
        weeks=[WeekView(week=w.number, week_start=w.week_start, hours=w.hours,
                        below_minimum=w.below_minimum, finished=w.finished, flagged=w.flagged)
               for w in enrollment.weeks(policy, local_date(utc_now(), terms.time_zone))],
        outreach=[OutreachView(consecutive_absences=o.consecutive_absences,
                               last_missed_session_id=o.last_missed_session_id)
                  for o in enrollment.flags.outreach],
        sessions=[SessionView(**session_view(enrollment, s))
                  for s in enrollment.schedule_sessions()],
    ).model_dump(mode="json")


@router.post("/{patient_id}/outcomes", status_code=201, responses={201: {"model": MeasureView}})
async def record_outcome(patient_id: uuid.UUID, body: OutcomeRequest, request: Request,
                         db: Writer, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """A measure taken in the program: OutcomeMeasured, and RiskSignalRaised for a PHQ-9's
    item 9 above 0 or a rise of 5 or more over the baseline or the previous measure, or a
    C-SSRS "since last visit" triaged moderate or high. A PHQ-9's item 9 above 0 also makes
    a C-SSRS due that day (CssrsDue; ``cssrs_due`` in the outcomes)."""
    taken = commands.OutcomeTaken(
        body.instrument, body.measured_on, items=body.items or (),
        answers=body.answers.model_dump() if body.answers is not None else {})

    async def measure(conn: Connection) -> Answer:
        try:
            enrollment, measure = await commands.record_outcome(
                commands.unit_of_work(conn, db.cause), str(patient_id), str(uuid.uuid4()),
                taken)  # 422 if invalid
        except commands.UnknownPatient:
            raise not_found("patient", str(patient_id)) from None
        return Answer(201, measure_view(enrollment, measure))

    return await execute(request, db, idempotency_key, body, measure,
                         refusals=(SessionsRuleBroken,))


@router.get("/{patient_id}/outcomes", response_model=OutcomesView)
async def read_outcomes(patient_id: uuid.UUID, db: Reader) -> dict[str, Any]:
    async with db.transaction() as conn:
        enrollment = await enrollment_of(conn, patient_id)
    return OutcomesView(
        patient_id=patient_id, baseline_phq9=enrollment.known_terms.baseline_phq9,
        measures=[MeasureView(**measure_view(enrollment, m))
                  for m in sorted(enrollment.measures, key=lambda m: m.measured_on)],
        cssrs_due=[CssrsTaskView(due_on=d.due_on, phq9_measure_id=d.phq9_measure_id)
                   for d in enrollment.open_cssrs_tasks()],
    ).model_dump(mode="json")


async def enrollment_of(conn: Connection, patient_id: uuid.UUID) -> Enrollment:
    """The patient's enrollment as its stream tells it, for a read."""
    try:
        return await commands.enrollment_of(commands.unit_of_work(conn, READING),
                                            str(patient_id))
    except commands.UnknownPatient:
        raise not_found("patient", str(patient_id)) from None


def session_view(enrollment: Enrollment, session: ScheduledSession) -> dict[str, Any]:
    attendance = session.attendance
    return SessionView(
        session_id=session.session_id, kind=session.kind, modality=session.modality,
        group_id=session.group_id, starts_at=session.starts_at,
        local_date=enrollment.local_day(session), duration_minutes=session.duration_minutes,
        clinician_id=session.clinician_id, status=session.status,
        late_minutes=attendance.late_minutes if attendance else 0,
        credited_minutes=attendance.credited_minutes if attendance else 0,
    ).model_dump(mode="json")


def band_of(measure: Measure) -> str:
    if measure.instrument is Instrument.GAD7:
        return gad7_band(measure.total)
    if measure.instrument is Instrument.CSSRS:
        return measure.risk_level.value if measure.risk_level else "none"
    return phq9_band(measure.total)


def measure_view(enrollment: Enrollment, measure: Measure) -> dict[str, Any]:
    return MeasureView(
        measure_id=measure.measure_id, instrument=measure.instrument, total=measure.total,
        band=band_of(measure), item9=measure.item9, measured_on=measure.measured_on,
        program_week=measure.program_week,
        risk_signals=enrollment.measure_signals.get(measure.measure_id, []),
    ).model_dump(mode="json")
