"""Outcomes by site: the caller's site, or every site for the network operator."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from services.plans import store
from services.plans.api.common import Reader

router = APIRouter(prefix="/v1", tags=["outcomes"])


class SiteOutcomes(BaseModel):
    site_id: str
    episodes: int
    by_status: dict[str, int]
    measured: int
    mean_baseline_phq9: float | None
    mean_latest_phq9: float | None
    responders: int
    remissions: int


@router.get("/outcomes", response_model=list[SiteOutcomes])
async def read_outcomes(db: Reader) -> list[dict[str, Any]]:
    """Episodes by status and PHQ-9 results: response is a ≥50% drop from the baseline,
    remission a latest total below 5. Row-level security decides whose sites are counted."""
    async with db.transaction() as conn:
        return await store.outcomes_by_site(conn)
