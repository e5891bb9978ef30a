"""Plans written by the previous release (e079311) come through ``migrate`` as events.

That release kept the plan in full, the notes on revisions and who confirmed a
step-down in its tables only, beside published events that carry codes. After the
upgrade each of those facts is a private event in the plan's stream (the words
and notes sealed), the plan loads from its stream alone, and it can be revised.
"""

from __future__ import annotations

import uuid
from datetime import date

import asyncpg
import pytest

from iopctl.stack import spec_of
from iopnet.auth import Principal, SiteDatabase
from iopnet.catalog import DomainEvent, RevisionReason, Scope
from iopnet.db import Connection, connect, create_pool
from iopnet.eventstore import Cause, EventStore
from services.plans import commands, store
from services.plans.domain import StepDownOrder, TreatmentPlan, open_episode
from services.plans.domain.plan_drafting import ChangeFrequency, PlanRevision
from services.plans.domain.step_down import Criterion, CriterionCode, StepDownEvaluation
from services.plans.domain.treatment_plan import AftercareItem, change_view
from tests.conftest import FreshDatabase
from tests.fixtures import previous_release
from tests.unit.test_plans_treatment_plan import ADMITTED

pytestmark = pytest.mark.integration

SITE = ADMITTED.site_id
PLANS = EventStore.of("plans")
CAUSE = Cause("corr", "cause")
NOTE = "Sleeping better since the dose change; wants fewer group days"
OVERRIDE = "Moving to another state next week; outpatient set up there"


async def test_the_previous_releases_plans_become_events(
    fresh_empty_database: FreshDatabase,
) -> None:
    dsn = await fresh_empty_database("upgrade_plans")
    await previous_release.build_database(dsn, "plans")
    conn = await connect(dsn)
    try:
        revised, stepped_down = str(uuid.uuid4()), str(uuid.uuid4())
        await _as_the_previous_release(conn, revised, stepped_down)
    finally:
        await conn.close()

    assert "upgrade/plans_as_events" in await spec_of("plans").migrate(dsn)

    pool = await create_pool(dsn)
    try:
        await _check_facts_are_events(pool, revised, stepped_down)
        await _check_the_plan_reads_and_revises(pool, revised)
        assert await spec_of("plans").migrate(dsn) == []
    finally:
        await pool.close()


async def _check_facts_are_events(pool: asyncpg.Pool, revised: str, stepped_down: str
                                  ) -> None:
    kinds = await pool.fetch(
        "SELECT stream_id, event_type, published FROM events ORDER BY global_position")
    assert [(k["event_type"], k["published"]) for k in kinds
            if k["stream_id"] == f"plan-{revised}"] == [
        ("iopnet.PlanDrafted", True), ("iopnet.PlanRevised", True),
        ("iopnet.PlanWritten", False), ("iopnet.RevisionNoted", False)]
    assert [k["event_type"] for k in kinds if k["stream_id"] == f"plan-{stepped_down}"] == [
        "iopnet.PlanDrafted", "iopnet.SteppedDown", "iopnet.PlanWritten",
        "iopnet.TransitionConfirmed"]
    raw = await pool.fetchval("SELECT string_agg(envelope::text, ' ') FROM events")
    for personal in (NOTE, OVERRIDE, "Reduce depressive symptoms"):
        assert personal not in raw
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
    async with pool.acquire() as conn:
        plan = await commands.unit_of_work(conn, CAUSE).load(TreatmentPlan, stepped_down)
        assert plan is not None and plan.contents == await store.load_contents(conn,
                                                                                stepped_down)
        [_, _, _, confirmed] = await PLANS.read_stream(conn, f"plan-{stepped_down}")
        assert confirmed.data["override_reason"] == OVERRIDE
        assert confirmed.data["overridden_criteria"] == ["time_in_program"]


async def _check_the_plan_reads_and_revises(pool: asyncpg.Pool, patient_id: str) -> None:
    principal = Principal("key-2", SITE, frozenset({Scope.READ, Scope.PLANS_WRITE}), 600)
    async with SiteDatabase(pool, principal).transaction() as conn:
        order = commands.PlanRevisionOrder(patient_id, frozenset({2}),
                                           [ChangeFrequency("I2", 2)], RevisionReason.PROGRESS,
                                           None, "key-2")
        _, revision = await commands.revise_plan(commands.unit_of_work(conn, CAUSE), order)
        revisions = await store.list_revisions(conn, patient_id)
        contents = await store.load_contents(conn, patient_id)
    assert [(r["revision"], r["note"], r["recorded_by"]) for r in revisions] == [
        (1, None, None), (2, NOTE, "key-1"), (3, None, "key-2")]
    assert contents == revision.plan
    assert contents.problems[0].text == "Depression"


# --- The previous release's writes (e079311: services/plans/store.py) -----------------------


async def _as_the_previous_release(conn: Connection, revised: str, stepped_down: str) -> None:
    await conn.execute("INSERT INTO sites (site_id, name, time_zone, policies)"
                       " VALUES ($1, 'A', 'America/Chicago', '{}')", SITE)
    plans = {}
    for patient_id in (revised, stepped_down):
        await _open_episode(conn, patient_id)
        plans[patient_id] = plan = TreatmentPlan(patient_id)
        plan.draft(str(uuid.uuid4()), SITE, open_episode(ADMITTED).findings())
        await _record(conn, plan)
    plan = plans[revised]
    revision = plan.revise(1, [ChangeFrequency("I1", 3)], RevisionReason.PROGRESS)
    await _record(conn, plan, note=NOTE, recorded_by="key-1", revision=revision)
    plan = plans[stepped_down]
    criteria = tuple(Criterion(c, c is not CriterionCode.TIME_IN_PROGRAM, "")
                     for c in CriterionCode)
    plan.step_down(StepDownEvaluation(False, criteria), StepDownOrder(
        date(2026, 12, 20), 7, (AftercareItem.CRISIS_LINE,), OVERRIDE))
    await _record(conn, plan, recorded_by="key-1")


#: The published events of each plan's stream, as that release recorded them.
_PUBLISHED: dict[str, list[DomainEvent]] = {}


async def _open_episode(conn: Connection, patient_id: str) -> None:
    episode = open_episode(ADMITTED.model_copy(update={"patient_id": patient_id}))
    await conn.execute(
        "INSERT INTO care_episodes (patient_id, site_id, program_id, clinician_id, starts_on,"
        " planned_end, days_per_week, planned_weeks, baseline_phq9, baseline_gad7,"
        " auditc_positive, risk_level, co_occurring, plan_status)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'awaiting_draft')",
        patient_id, episode.site_id, episode.program_id, episode.clinician_id,
        episode.starts_on, episode.planned_end, episode.days_per_week, episode.planned_weeks,
        episode.baseline_phq9, episode.baseline_gad7, episode.auditc_positive,
        episode.risk_level, list(episode.co_occurring),
    )


async def _record(conn: Connection, plan: TreatmentPlan, *, note: str | None = None,
                  recorded_by: str | None = None, revision: PlanRevision | None = None) -> None:
    """The published events, as that release's event store appended them, and its rows."""
    history = _PUBLISHED.setdefault(plan.id, [])
    published = [e for e in plan.pending if e.published]
    envelopes = PLANS.envelopes(plan.stream_id, len(history), published, CAUSE)
    await conn.execute("INSERT INTO event_streams (stream_id, version) VALUES ($1, $2)"
                       " ON CONFLICT (stream_id) DO UPDATE SET version = $2",
                       plan.stream_id, len(history) + len(published))
    for envelope in envelopes:
        await conn.execute(
            "INSERT INTO events (event_id, stream_id, stream_version, event_type, envelope)"
            " VALUES ($1, $2, $3, $4, $5)", envelope.id, plan.stream_id,
            envelope.streamversion, envelope.type, envelope.model_dump(mode="json"))
    history.extend(published)
    plan.mark_saved()
    event, envelope = published[0], envelopes[0]
    if event.event_type.endswith("SteppedDown"):
        await _write_transition(conn, plan, envelope.id, recorded_by)
        return
    assert plan.contents is not None
    await _write_contents(conn, plan)
    changes = [change_view(c) for c in revision.changes] if revision else []
    await conn.execute(
        "INSERT INTO plan_revisions (patient_id, site_id, revision, event_id, recorded_at,"
        " reason, note, recorded_by, change_codes, changes, interventions)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        plan.id, SITE, plan.revision, envelope.id, envelope.time,
        "progress" if revision else None, note, recorded_by,
        envelope.data.get("changes", []), changes, envelope.data["interventions"],
    )
    await conn.execute("UPDATE care_episodes SET plan_status = 'active' WHERE patient_id = $1",
                       plan.id)


async def _write_contents(conn: Connection, plan: TreatmentPlan) -> None:
    contents = plan.contents
    assert contents is not None
    await conn.execute(
        "INSERT INTO treatment_plans (patient_id, site_id, plan_id, revision, start_date,"
        " target_date, clinician_id, last_intervention_number) VALUES ($1, $2, $3, $4, $5,"
        " $6, $7, $8) ON CONFLICT (patient_id) DO UPDATE SET revision = $4,"
        " last_intervention_number = $8, updated_at = now()",
        plan.id, SITE, plan.plan_id, contents.revision, contents.start_date,
        contents.target_date, contents.clinician_id, contents.last_intervention_number,
    )
    for table in ("plan_problems", "plan_goals", "plan_objectives", "plan_interventions"):
        await conn.execute(f"DELETE FROM {table} WHERE patient_id = $1", plan.id)
    goals = [(p, g) for p in contents.problems for g in p.goals]
    await conn.executemany(
        "INSERT INTO plan_problems (patient_id, site_id, problem_id, position, code, text)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        [(plan.id, SITE, p.id, n, p.code.value, p.text) for n, p in enumerate(contents.problems)])
    await conn.executemany(
        "INSERT INTO plan_goals (patient_id, site_id, goal_id, problem_id, position, text)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        [(plan.id, SITE, g.id, p.id, n, g.text) for n, (p, g) in enumerate(goals)])
    await conn.executemany(
        "INSERT INTO plan_objectives (patient_id, site_id, objective_id, goal_id, position,"
        " text, target_date) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [(plan.id, SITE, o.id, g.id, n, o.text, o.target_date)
         for n, (g, o) in enumerate((g, o) for _, g in goals for o in g.objectives)])
    await conn.executemany(
        "INSERT INTO plan_interventions (patient_id, site_id, intervention_id, position,"
        " modality, sessions_per_week, clinician_id, target_date, addresses)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [(plan.id, SITE, i.id, n, i.modality.value, i.sessions_per_week, i.clinician_id,
          i.target_date, list(i.addresses)) for n, i in enumerate(contents.interventions)])


async def _write_transition(conn: Connection, plan: TreatmentPlan, event_id: str,
                            recorded_by: str | None) -> None:
    await conn.execute(
        "INSERT INTO care_transitions (patient_id, site_id, kind, effective_on, to_level,"
        " aftercare, follow_up_within_days, clinician_id, override_reason,"
        " overridden_criteria, event_id, recorded_at, recorded_by)"
        " VALUES ($1, $2, 'stepped_down', $3, 'standard_outpatient', $4, 7, 'c-7', $5, $6,"
        " $7, now(), $8)",
        plan.id, SITE, date(2026, 12, 20), ["crisis_line"], OVERRIDE, ["time_in_program"],
        event_id, recorded_by,
    )
    await conn.execute(
        "UPDATE care_episodes SET plan_status = 'stepped_down' WHERE patient_id = $1", plan.id)

