"""Plans' adapters: the care-episode table."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from iopnet.db import Connection
from services.plans.domain import CareEpisode


async def open_episode(conn: Connection, episode: CareEpisode) -> None:
    await conn.execute(
        "INSERT INTO care_episodes (patient_id, site_id, program_id, clinician_id, starts_on,"
        " planned_end, plan_status) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (patient_id) DO NOTHING",
        *asdict(episode).values(),
    )


async def find_episode(conn: Connection, patient_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM care_episodes WHERE patient_id = $1", patient_id)
    return dict(row) if row else None
