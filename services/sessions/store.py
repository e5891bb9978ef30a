"""Sessions' adapters: the enrollment table."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from iopnet.db import Connection
from services.sessions.domain import Enrollment


async def save_enrollment(conn: Connection, enrollment: Enrollment) -> None:
    await conn.execute(
        "INSERT INTO enrollments (patient_id, site_id, program_id, days_per_week,"
        " weekly_hours_target, starts_on, ends_on, status)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (patient_id) DO NOTHING",
        *asdict(enrollment).values(),
    )


async def find_enrollment(conn: Connection, patient_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM enrollments WHERE patient_id = $1", patient_id)
    return dict(row) if row else None
