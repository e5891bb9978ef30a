"""Routes for closed-loop urgent alerts: the open ones, one alert's trail, acknowledging."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from iopnet.auth import SiteDatabase, site_database
from iopnet.catalog import (
    AlertAcknowledged,
    AlertEscalated,
    AlertRaised,
    Scope,
    parse_event,
)
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.fields import Identifier
from iopnet.idempotency import Answer, IdempotencyKey, execute
from iopnet.problems import not_found
from services.notifications import commands, store
from services.notifications.api.models import (
    Acknowledgement,
    AlertsView,
    AlertTrailEntry,
    AlertView,
)
from services.notifications.domain.alerts import Alert
from services.notifications.domain.events import AcknowledgementNoted

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])
Reader = Annotated[SiteDatabase, Depends(site_database(Scope.READ))]
Writer = Annotated[SiteDatabase, Depends(site_database(Scope.NOTIFICATIONS_WRITE))]


@router.get("", response_model=AlertsView)
async def read_alerts(db: Reader, site_id: Identifier | None = None,
                      patient_id: uuid.UUID | None = None,
                      status: Annotated[str, Query(pattern="^(unacknowledged|all)$")]
                      = "unacknowledged") -> AlertsView:
    """The site's urgent alerts, oldest first: by default those no clinician has
    acknowledged yet (open or escalated); ``status=all`` for every one."""
    async with db.transaction() as conn:
        rows = await store.alerts(conn, site_id, str(patient_id) if patient_id else None,
                                  status == "unacknowledged")
    return AlertsView(alerts=[AlertView.model_validate(row) for row in rows])


@router.get("/{alert_id}", response_model=AlertView)
async def read_alert(alert_id: uuid.UUID, db: Reader) -> AlertView:
    """One alert and its trail: raised, escalated, acknowledged (by whom, with the note)."""
    async with db.transaction() as conn:
        row = await store.alert(conn, alert_id)
        if row is None:
            raise not_found("alert", str(alert_id))
        history = await commands.EVENTS.read_stream(conn,
                                                    f"{Alert.stream_prefix}-{alert_id}")
    return AlertView.model_validate({**row, "trail": _trail(history)})


@router.post("/{alert_id}/acknowledgement", responses={200: {"model": AlertView}})
async def acknowledge(alert_id: uuid.UUID, body: Acknowledgement, request: Request,
                      db: Writer, idempotency_key: IdempotencyKey = None
                      ) -> JSONResponse:
    """A clinician has the alert in hand. Acknowledging again changes nothing (the first
    acknowledgement stands); one after the escalation is recorded all the same."""

    async def record(conn: Connection) -> Answer:
        if await store.alert(conn, alert_id) is None:
            raise not_found("alert", str(alert_id))
        await commands.acknowledge_alert(commands.unit_of_work(conn, db.cause), str(alert_id),
                                         body.clinician_id, body.note)
        row = await store.alert(conn, alert_id)
        return Answer(200, AlertView.model_validate(row).model_dump(mode="json"))

    return await execute(request, db, idempotency_key, body, record)


def _trail(history: list[EventEnvelope]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for envelope in history:
        event = parse_event(envelope)
        entry = AlertTrailEntry(at=envelope.time, event=type(event).__name__)
        match event:
            case AlertRaised():
                entry.detail = {"alert_reasons": event.alert_reasons,
                                "escalate_at": event.escalate_at.isoformat()}
            case AlertEscalated():
                pass
            case AlertAcknowledged():
                entry.clinician_id = event.clinician_id
                entry.detail = {"after_escalation": event.after_escalation}
            case AcknowledgementNoted() if entries:
                entries[-1]["detail"]["note"] = event.note  # belongs to the acknowledgement
                continue
            case _:
                continue
        entries.append(entry.model_dump(mode="json"))
    return entries
