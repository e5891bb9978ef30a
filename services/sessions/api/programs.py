"""Routes for a site's programs and their recurring groups."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from iopnet.auth import SiteDatabase, site_database
from iopnet.auth.registry import site_time_zone
from iopnet.catalog import Modality, Scope
from iopnet.db import Connection
from iopnet.fields import Identifier, Strict
from iopnet.idempotency import Answer, IdempotencyKey, execute
from iopnet.problems import Problem, not_found
from services.sessions import commands, store
from services.sessions.api.models import acting_site
from services.sessions.domain import DEFAULT_GROUP_MINUTES, HELD_BY_FAMILY, Group, IdTaken

router = APIRouter(prefix="/v1", tags=["programs"])
SiteChoice = Annotated[Identifier | None, Field(
    description="Defaults to the key's site (the network operator must name it)")]
Reader = Annotated[SiteDatabase, Depends(site_database(Scope.READ))]
Writer = Annotated[SiteDatabase, Depends(site_database(Scope.SESSIONS_WRITE))]


class ProgramRequest(Strict):
    program_id: Identifier
    name: str = Field(min_length=1, max_length=200)
    site_id: SiteChoice = None


class ProgramView(BaseModel):
    site_id: str
    program_id: str
    name: str


class GroupRequest(Strict):
    group_id: Identifier
    modality: Modality
    clinician_id: Identifier
    weekday: int = Field(ge=0, le=6, description="0 = Monday … 6 = Sunday")
    start_time: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["09:00"],
                            description="Local time in the site's time zone, HH:MM")
    duration_minutes: int = Field(default=DEFAULT_GROUP_MINUTES, ge=15, le=480)
    capacity: int = Field(ge=1, le=200)
    site_id: SiteChoice = None

    @field_validator("modality")
    @classmethod
    def a_group_modality(cls, value: Modality) -> Modality:
        if value is Modality.INDIVIDUAL_COUNSELING:
            raise ValueError("individual counseling is scheduled per patient, not as a group")
        if value in HELD_BY_FAMILY:
            raise ValueError(f"{value.value} sessions are held by the family service")
        return value


class GroupView(BaseModel):
    site_id: str
    program_id: str
    group_id: str
    modality: Modality
    clinician_id: str
    weekday: int
    start_time: str
    duration_minutes: int
    capacity: int
    time_zone: str


@router.post("/programs", status_code=201, responses={201: {"model": ProgramView}})
async def create_program(body: ProgramRequest, request: Request, db: Writer,
                         idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """A program of the site. Sending the same program again answers 200; a different
    program under an id already taken is a conflict."""
    site_id = acting_site(db, body.site_id)

    async def create(conn: Connection) -> Answer:
        try:
            created = await commands.define_program(
                commands.unit_of_work(conn, db.cause), site_id, body.program_id, body.name,
                datetime.now(UTC))
        except IdTaken as taken:
            raise _taken(taken) from None
        view = ProgramView(site_id=site_id, program_id=body.program_id, name=body.name)
        return Answer(201 if created else 200, view.model_dump(mode="json"))

    return await execute(request, db, idempotency_key, body, create)


@router.get("/programs", response_model=list[ProgramView])
async def list_programs(db: Reader) -> list[dict[str, Any]]:
    async with db.transaction() as conn:
        return await store.list_programs(conn)


@router.post("/programs/{program_id}/groups", status_code=201,
             responses={201: {"model": GroupView}})
async def create_group(program_id: Identifier, body: GroupRequest, request: Request, db: Writer,
                       idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """A recurring group of the program: one weekday, a local start time, a capacity.

    Patients of the program short of their days a week (admitted before it had groups,
    above all) are scheduled into the groups in the same transaction, as at admission."""
    site_id = acting_site(db, body.site_id)
    hours, minutes = (int(part) for part in body.start_time.split(":"))
    group = Group(site_id=site_id, program_id=program_id, group_id=body.group_id,
                  modality=body.modality, clinician_id=body.clinician_id, weekday=body.weekday,
                  starts_at=time(hours, minutes), duration_minutes=body.duration_minutes,
                  capacity=body.capacity)

    async def create(conn: Connection) -> Answer:
        try:
            added = await commands.add_group(commands.unit_of_work(conn, db.cause), group,
                                             datetime.now(UTC))
        except commands.UnknownProgram:
            raise not_found("program", program_id) from None
        except IdTaken as taken:
            raise _taken(taken) from None
        return Answer(201 if added.created else 200, _group_view(group, added.time_zone))

    return await execute(request, db, idempotency_key, body, create)


@router.get("/programs/{program_id}/groups", response_model=list[GroupView])
async def list_groups(program_id: Identifier, db: Reader) -> list[dict[str, Any]]:
    async with db.transaction() as conn:
        programs = [p for p in await store.list_programs(conn) if p["program_id"] == program_id]
        if not programs:
            raise not_found("program", program_id)
        views = []
        for program in programs:
            zone = await site_time_zone(conn, program["site_id"])
            views += [_group_view(g, zone)
                      for g in await store.groups_of(conn, program["site_id"], program_id)]
        return views


def _group_view(group: Group, zone: str) -> dict[str, Any]:
    return GroupView(
        site_id=group.site_id, program_id=group.program_id, group_id=group.group_id,
        modality=group.modality, clinician_id=group.clinician_id, weekday=group.weekday,
        start_time=group.starts_at.strftime("%H:%M"), duration_minutes=group.duration_minutes,
        capacity=group.capacity, time_zone=zone,
    ).model_dump(mode="json")


def _taken(taken: IdTaken) -> Problem:
    return Problem(409, "conflict", f"The {taken.resource} id is taken", str(taken))
