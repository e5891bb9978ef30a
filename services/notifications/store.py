"""Notifications' adapters: the message table."""

from __future__ import annotations

from typing import Any

from iopnet.db import Connection
from services.notifications.domain import DeliveryStatus, MessageDraft


async def queue_message(conn: Connection, draft: MessageDraft) -> None:
    await conn.execute(
        "INSERT INTO messages (patient_id, site_id, kind, caused_by, status)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (caused_by, kind) DO NOTHING",
        draft.patient_id, draft.site_id, draft.kind.value, draft.caused_by,
        DeliveryStatus.PENDING.value,
    )


async def messages_for(conn: Connection, patient_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, site_id, kind, status, created_at FROM messages"
        " WHERE patient_id = $1 ORDER BY id", patient_id,
    )
    return [dict(row) for row in rows]
