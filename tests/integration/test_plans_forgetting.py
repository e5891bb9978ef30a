"""A forgotten patient leaves no plan text in plans: rows deleted, words and notes sealed
with a destroyed key, and a rebuild from the events writes none of them back."""

from __future__ import annotations

import asyncpg
import pytest

from iopnet.auth import SiteDatabase
from iopnet.catalog import PatientForgotten, RevisionReason, parse_event
from iopnet.eventstore import EventStore
from services.plans import commands
from services.plans.domain import Confirmation, StepDownOrder
from services.plans.domain.plan_drafting import ChangeFrequency
from services.plans.domain.treatment_plan import AftercareItem
from services.plans.projections import project_plan
from tests.fixtures.dates import site_today
from tests.integration import test_plans_store
from tests.integration.test_plans_store import CAUSE, INTAKE, SITE, admit, deliver, site

pytestmark = pytest.mark.integration
plans_db = test_plans_store.plans_db

PLANS = EventStore.of("plans")
NOTE = "Lost her job in November; sister stays with her on weekends"
OVERRIDE = "Moving to Oregon on the 20th; outpatient care arranged there"
#: Words every drafted plan of this admission has, and the clinician's free text.
PERSONAL = ("Reduce depressive symptoms", "Co-occurring anxiety", "GAD-7 below", NOTE, OVERRIDE)


async def test_after_patient_forgotten_no_plan_text_remains(plans_db: asyncpg.Pool) -> None:
    patient_id = await admit(plans_db)
    await _revise_and_step_down(plans_db, patient_id)
    assert await _personal_text_in_tables(plans_db) == set(PERSONAL)

    await deliver(plans_db, INTAKE, PatientForgotten(site_id=SITE, patient_id=patient_id))

    assert await _personal_text_in_tables(plans_db) == set()
    async with plans_db.acquire() as conn:
        history = await PLANS.read_stream(conn, f"plan-{patient_id}")
        sealed = [e.data[f] for e in history for f in ("problems", "note", "override_reason")
                  if f in e.data]
        assert sealed and all(value is None for value in sealed)
        async with conn.transaction():  # a rebuild of plans' own tables from its events
            for envelope in history:
                await project_plan(conn, parse_event(envelope), envelope)
    assert await _personal_text_in_tables(plans_db) == set()


async def _revise_and_step_down(pool: asyncpg.Pool, patient_id: str) -> None:
    async with SiteDatabase(pool, site()).transaction() as conn:
        await commands.revise_plan(commands.unit_of_work(conn, CAUSE), commands.PlanRevisionOrder(
            patient_id, frozenset({1}), [ChangeFrequency("I2", 2)], RevisionReason.PROGRESS,
            NOTE, "key-1"))
        await commands.step_down(commands.unit_of_work(conn, CAUSE), commands.StepDownCommand(
            patient_id, StepDownOrder(site_today(), 7, (AftercareItem.CRISIS_LINE,), OVERRIDE),
            None, Confirmation("c-7", "key-1")))


async def _personal_text_in_tables(pool: asyncpg.Pool) -> set[str]:
    """Which of the personal texts some row of some table holds in plain text."""
    tables = await pool.fetch("SELECT table_name FROM information_schema.tables"
                              " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")
    found: set[str] = set()
    for table in (t["table_name"] for t in tables):
        text = await pool.fetchval(f"SELECT string_agg(t::text, ' ') FROM {table} t") or ""
        found |= {words for words in PERSONAL if words in text}
    return found
