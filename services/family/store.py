"""Family's adapters: the family-circle table."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from iopnet.db import Connection
from services.family.domain import FamilyCircle


async def open_circle(conn: Connection, circle: FamilyCircle) -> None:
    await conn.execute(
        "INSERT INTO family_circles (patient_id, site_id, admitted_on, sharing)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (patient_id) DO NOTHING",
        *asdict(circle).values(),
    )


async def find_circle(conn: Connection, patient_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM family_circles WHERE patient_id = $1", patient_id)
    return dict(row) if row else None
