"""What every family route shares: access, the unit of work, the domain's refusals."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from iopnet.auth import SiteDatabase, site_database
from iopnet.catalog import Scope
from iopnet.db import Connection
from iopnet.idempotency import Answer, Command, execute
from iopnet.problems import not_found
from services.family import store
from services.family.domain import FamilyRuleBroken, NotFound

Reader = Annotated[SiteDatabase, Depends(site_database(Scope.READ))]
Writer = Annotated[SiteDatabase, Depends(site_database(Scope.FAMILY_WRITE))]


async def run(request: Request, db: SiteDatabase, key: str | None, body: BaseModel | None,
              command: Command) -> JSONResponse:
    """A command, once per Idempotency-Key; a broken rule answers 409, an unknown thing 404."""
    async def refused_as_problems(conn: Connection) -> Answer:
        with domain_refusals():
            return await command(conn)

    return await execute(request, db, key, body, refused_as_problems,
                         refusals=(FamilyRuleBroken,))


@contextmanager
def domain_refusals() -> Iterator[None]:
    """The domain's unknown things → 404 (refused fields reach the app's 422 handler)."""
    try:
        yield
    except NotFound as missing:
        raise not_found(missing.resource, missing.identifier) from missing


async def require_circle(conn: Connection, patient_id: uuid.UUID) -> None:
    if await store.find_circle(conn, str(patient_id)) is None:
        raise not_found("patient", str(patient_id))
