"""Routes for the network operator: onboard sites, set their policies, issue keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, field_validator

from iopnet.auth import SiteDatabase, site_database
from iopnet.catalog import Scope, SitePolicies
from iopnet.db import Connection
from iopnet.fields import Identifier, Strict
from iopnet.idempotency import Answer, IdempotencyKey, execute
from services.intake import commands, store
from services.intake.domain import NetworkRuleBroken

router = APIRouter(prefix="/v1/network", tags=["network"])
Operator = Annotated[SiteDatabase, Depends(site_database(Scope.OPERATOR))]
KeyId = Annotated[str, Field(pattern=r"^[0-9a-f]{12}$")]


def _still_ahead(moment: datetime | None) -> datetime | None:
    """A key issued already expired would be refused at its first use: say so now."""
    if moment is not None and moment <= datetime.now(UTC):
        raise ValueError("must be in the future")
    return moment


#: When a key stops working: with its UTC offset, and not already past.
Expiry = Annotated[AwareDatetime | None, AfterValidator(_still_ahead)]


class OnboardingRequest(Strict):
    site_id: Identifier
    name: str = Field(min_length=1, max_length=200)
    time_zone: str = Field(examples=["America/Chicago"])
    contact_email: str | None = Field(default=None, max_length=200)
    policies: SitePolicies = SitePolicies()

    @field_validator("time_zone")
    @classmethod
    def known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA time zone, e.g. 'Europe/Paris'") from None
        return value


class KeyRequest(Strict):
    scopes: list[Scope] = Field(min_length=1)
    expires_at: Expiry = None
    rate_limit_per_minute: int = Field(default=600, ge=1, le=100_000)


class RotationRequest(Strict):
    expires_at: Expiry = None


class IssuedKey(BaseModel):
    key_id: str
    site_id: str
    scopes: list[Scope]
    expires_at: datetime | None
    api_key: str = Field(description="The secret: shown this once, stored only as a hash.")


class KeyView(BaseModel):
    key_id: str
    site_id: str
    scopes: list[Scope]
    expires_at: datetime | None
    rate_limit_per_minute: int
    replaces: str | None
    issued_at: datetime
    revoked_at: datetime | None


class SiteView(BaseModel):
    site_id: str
    name: str
    time_zone: str
    policies: SitePolicies


@router.post("/sites", status_code=201, responses={201: {"model": SiteView}})
async def onboard_site(body: OnboardingRequest, request: Request, db: Operator,
                       idempotency_key: IdempotencyKey = None
                       ) -> JSONResponse:
    async def onboard(conn: Connection) -> Answer:
        await commands.onboard_site(commands.unit_of_work(conn, db.events, db.cause), body.site_id,
                                    body.name, body.time_zone, body.policies)
        return Answer(201, SiteView(**body.model_dump(exclude={"contact_email"})).model_dump(
            mode="json"))

    return await execute(request, db, idempotency_key, body, onboard,
                         refusals=(NetworkRuleBroken,))


@router.put("/sites/{site_id}/policies", responses={200: {"model": SitePolicies}})
async def change_site_policies(site_id: Identifier, body: SitePolicies, request: Request,
                               db: Operator,
                               idempotency_key: IdempotencyKey = None) -> JSONResponse:
    async def change(conn: Connection) -> Answer:
        await commands.change_policies(commands.unit_of_work(conn, db.events, db.cause), site_id,
                                       body)
        return Answer(200, body.model_dump(mode="json"))

    return await execute(request, db, idempotency_key, body, change)


@router.get("/sites", response_model=list[SiteView])
async def list_sites(db: Operator) -> list[dict[str, Any]]:
    async with db.transaction() as conn:
        return await store.list_sites(conn)


@router.post("/sites/{site_id}/keys", status_code=201, responses={201: {"model": IssuedKey}})
async def issue_key(site_id: Identifier, body: KeyRequest, request: Request,
                    db: Operator) -> JSONResponse:
    """Issue a key to a site. Not idempotent by design: a retry must not see the secret again."""
    async def issue(conn: Connection) -> Answer:
        issued = await commands.issue_key(commands.unit_of_work(conn, db.events, db.cause), site_id,
                                          body.scopes, body.expires_at,
                                          body.rate_limit_per_minute)
        return Answer(201, _issued(issued, body.expires_at))

    return await execute(request, db, None, body, issue, refusals=(NetworkRuleBroken,))


@router.post("/keys/{key_id}/rotate", status_code=201, responses={201: {"model": IssuedKey}})
async def rotate_key(key_id: KeyId, body: RotationRequest, request: Request,
                     db: Operator) -> JSONResponse:
    """A successor key; the old one keeps working until it is revoked."""
    async def rotate(conn: Connection) -> Answer:
        issued = await commands.rotate_key(commands.unit_of_work(conn, db.events, db.cause), key_id,
                                           body.expires_at)
        return Answer(201, _issued(issued, body.expires_at))

    return await execute(request, db, None, body, rotate, refusals=(NetworkRuleBroken,))


@router.post("/keys/{key_id}/revoke", status_code=204)
async def revoke_key(key_id: KeyId, request: Request, db: Operator) -> Response:
    async def revoke(conn: Connection) -> Answer:
        await commands.revoke_key(commands.unit_of_work(conn, db.events, db.cause), key_id)
        return Answer(204, None)

    await execute(request, db, None, None, revoke, refusals=(NetworkRuleBroken,))
    return Response(status_code=204)


@router.get("/keys", response_model=list[KeyView])
async def list_keys(db: Operator, site_id: Identifier | None = None) -> list[dict[str, Any]]:
    async with db.transaction() as conn:
        return await store.list_keys(conn, site_id)


def _issued(issued: commands.KeyAndSecret, expires_at: datetime | None) -> dict[str, Any]:
    key = issued.key
    return IssuedKey(key_id=key.id, site_id=key.site_id, scopes=key.scopes,
                     expires_at=expires_at, api_key=issued.plaintext).model_dump(mode="json")
