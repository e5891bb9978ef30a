"""The previous release's plans as events: what only its tables held becomes private events.

That release kept the plan in full (its words, each intervention's detail), the
notes on revisions and who confirmed a transition in its tables only. For each
plan, its stream gets what this release records beside the published events:
the plan as written at its current revision, a note for each revision, the
transition's confirmation, and a transfer when the episode has moved to another
site since the plan's last event. The rows stay as they are: they already say
what the events now do. A plan whose stream has them already is left alone.
"""

from __future__ import annotations

import uuid

from iopnet.db import Connection
from iopnet.eventstore import Cause
from iopnet.migrate import DataUpgrade
from iopnet.unit_of_work import UnitOfWork
from services.plans import store
from services.plans.commands import EVENTS
from services.plans.domain import RevisionNoted, TransitionConfirmed, TreatmentPlan

_UPGRADE_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "iopnet:plans:upgrade:plans-as-events"))
CAUSE = Cause(correlation_id=_UPGRADE_ID, causation_id=_UPGRADE_ID)


async def record_plans_as_events(conn: Connection) -> None:
    uow = UnitOfWork(conn, EVENTS, CAUSE)
    episodes = await conn.fetch("SELECT patient_id, site_id FROM care_episodes"
                                " ORDER BY patient_id")
    for episode in episodes:
        patient_id = str(episode["patient_id"])
        plan = await uow.load(TreatmentPlan, patient_id)
        if plan is None or plan.contents is not None:
            continue  # never drafted, or written by this release already
        plan.transfer(episode["site_id"])
        plan.record(plan.as_written(await store.load_contents(conn, patient_id)))
        await _record_notes(conn, plan)
        await _record_confirmation(conn, plan)
        await uow.save(plan)


async def _record_notes(conn: Connection, plan: TreatmentPlan) -> None:
    for revision in await store.list_revisions(conn, plan.id):
        if revision["revision"] > 1 or revision["note"] or revision["recorded_by"]:
            plan.record(RevisionNoted(
                patient_id=plan.id, site_id=plan.site_id, revision=revision["revision"],
                note=revision["note"], recorded_by=revision["recorded_by"],
                changes=revision["changes"],
            ))


async def _record_confirmation(conn: Connection, plan: TreatmentPlan) -> None:
    transition = await store.find_transition(conn, plan.id)
    if transition is not None:
        plan.record(TransitionConfirmed(
            patient_id=plan.id, site_id=plan.site_id, clinician_id=transition["clinician_id"],
            override_reason=transition["override_reason"],
            overridden_criteria=transition["overridden_criteria"] or [],
            recorded_by=transition["recorded_by"],
        ))


UPGRADES = (DataUpgrade("plans_as_events", record_plans_as_events),)
