"""What one support person may see today: only what the patient's live consent allows."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter

from iopnet.auth.registry import site_date
from iopnet.catalog import ConsentScope
from iopnet.db import Connection
from iopnet.problems import not_found
from services.family import store
from services.family.api.common import Reader
from services.family.api.models import ProgressShared, ScheduleShared, SharedSession, SharedView
from services.family.domain import what_may_be_shared

router = APIRouter(prefix="/v1/patients/{patient_id}", tags=["family"])


@router.get("/support-persons/{support_person_id}/shared-view", response_model=SharedView)
async def read_shared_view(patient_id: uuid.UUID, support_person_id: uuid.UUID, db: Reader
                           ) -> dict[str, Any]:
    """The schedule (schedule consent) and a progress summary (progress consent); after a
    revocation or past the expiry, an empty view. Nothing beyond consent is even read."""
    async with db.transaction() as conn:
        circle = await store.find_circle(conn, str(patient_id))
        if circle is None:
            raise not_found("patient", str(patient_id))
        if not await store.support_persons(conn, str(patient_id), str(support_person_id)):
            raise not_found("support person", str(support_person_id))
        today = await site_date(conn, circle["site_id"])
        consents = await store.consent_history(conn, str(patient_id), str(support_person_id))
        scopes = what_may_be_shared([store.as_consent(c) for c in consents], today)
        shared = await _shared(conn, str(patient_id), scopes, circle)
    return SharedView(patient_id=patient_id, support_person_id=support_person_id, as_of=today,
                      scopes=sorted(scopes), shared=shared).model_dump(mode="json")


async def _shared(conn: Connection, patient_id: str, scopes: set[ConsentScope],
                  circle: dict[str, Any]) -> list[ScheduleShared | ProgressShared]:
    shared: list[ScheduleShared | ProgressShared] = []
    if ConsentScope.SCHEDULE in scopes:
        upcoming = await store.upcoming_sessions(conn, patient_id, datetime.now(UTC))
        shared.append(ScheduleShared(
            upcoming_sessions=[SharedSession.model_validate(s) for s in upcoming]))
    if ConsentScope.PROGRESS_SUMMARIES in scopes:
        trend = await store.latest_trend(conn, patient_id)
        since: date | None = circle["status_since"]
        shared.append(ProgressShared(trend=trend, care_status=circle["care_status"],
                                     status_since=since))
    return shared
