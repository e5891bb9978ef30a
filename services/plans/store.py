"""Plans' adapters: the treatment-plan repository, its read model, and progress tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from iopnet.aggregate import Repository
from iopnet.catalog import (
    ConsentGranted,
    Discharged,
    DomainEvent,
    PlanDrafted,
    PlanRevised,
    SteppedDown,
    SteppedUp,
)
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.eventstore import Cause, EventStore
from services.plans.domain import CareEpisode, FamilyConsent, PlanStatus, TreatmentPlan
from services.plans.domain.plan_drafting import (
    AppliedChange,
    FrequencyChanged,
    Goal,
    Intervention,
    InterventionAdded,
    InterventionRemoved,
    Modality,
    Objective,
    Problem,
    ProblemCode,
)
from services.plans.domain.plan_drafting import TreatmentPlan as PlanContents
from services.plans.domain.progress import (
    Measure,
    ProgressRecord,
    SessionRecord,
    SessionStatus,
    SignalRecord,
)

EVENTS = EventStore.of("plans")
#: Tables whose rows follow a patient to a new site: the plan and its progress are the
#: patient's ongoing care, which the receiving site continues (same revision numbers).
PATIENT_TABLES = (
    "care_episodes", "treatment_plans", "plan_problems", "plan_goals", "plan_objectives",
    "plan_interventions", "plan_revisions", "care_transitions", "session_attendance",
    "outcome_measures", "risk_signals", "family_consents",
)


# --- Care episodes ------------------------------------------------------------------------


async def open_episode(conn: Connection, episode: CareEpisode) -> bool:
    """Records the admission's facts; False when the episode was already open."""
    status = await conn.execute(
        "INSERT INTO care_episodes (patient_id, site_id, program_id, clinician_id, starts_on,"
        " planned_end, days_per_week, planned_weeks, baseline_phq9, baseline_gad7,"
        " auditc_positive, risk_level, co_occurring, plan_status)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        " ON CONFLICT (patient_id) DO NOTHING",
        episode.patient_id, episode.site_id, episode.program_id, episode.clinician_id,
        episode.starts_on, episode.planned_end, episode.days_per_week, episode.planned_weeks,
        episode.baseline_phq9, episode.baseline_gad7, episode.auditc_positive,
        episode.risk_level, list(episode.co_occurring), PlanStatus.AWAITING_DRAFT.value,
    )
    return status.endswith(" 1")


async def find_episode(conn: Connection, patient_id: str, *, for_update: bool = False
                       ) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT * FROM care_episodes WHERE patient_id = $1{lock}",
                              patient_id)
    return dict(row) if row else None


def episode_of(row: dict[str, Any]) -> CareEpisode:
    return CareEpisode(
        patient_id=str(row["patient_id"]), site_id=row["site_id"],
        program_id=row["program_id"], clinician_id=row["clinician_id"],
        starts_on=row["starts_on"], planned_end=row["planned_end"],
        days_per_week=row["days_per_week"], planned_weeks=row["planned_weeks"],
        baseline_phq9=row["baseline_phq9"], baseline_gad7=row["baseline_gad7"],
        auditc_positive=row["auditc_positive"], risk_level=row["risk_level"],
        co_occurring=tuple(row["co_occurring"]),
    )


async def _set_status(conn: Connection, patient_id: str, status: PlanStatus) -> None:
    await conn.execute(
        "UPDATE care_episodes SET plan_status = $2, updated_at = now() WHERE patient_id = $1",
        patient_id, status.value,
    )


# --- Treatment plans ----------------------------------------------------------------------


@dataclass(frozen=True)
class TransitionDetail:
    """What a step-down, step-up or discharge keeps beside its event (never published)."""

    clinician_id: str | None = None
    override_reason: str | None = None
    overridden_criteria: tuple[str, ...] = ()


class TreatmentPlans(Repository[TreatmentPlan]):
    """Treatment plans of the patients the caller's site can see.

    ``get`` locks the patient's episode row, so two revisions of one plan run one
    after the other: the second sees the first's revision and is refused as stale.
    """

    def __init__(self, conn: Connection, events: EventStore = EVENTS, *,
                 recorded_by: str | None = None) -> None:
        super().__init__(conn, events, TreatmentPlan)
        self.recorded_by = recorded_by

    async def get(self, aggregate_id: str) -> TreatmentPlan | None:
        episode = await find_episode(self.conn, aggregate_id, for_update=True)
        if episode is None:
            return None
        plan = await super().get(aggregate_id) or TreatmentPlan(aggregate_id)
        plan.site_id = episode["site_id"]  # the events keep the site they were recorded at
        if plan.revision:
            plan.attach(await load_contents(self.conn, aggregate_id))
        return plan

    async def save(self, aggregate: TreatmentPlan, cause: Cause, *, note: str | None = None,
                   changes: Sequence[AppliedChange] = (),
                   detail: TransitionDetail = TransitionDetail()) -> Sequence[EventEnvelope]:
        pending = list(aggregate.pending)
        envelopes = await super().save(aggregate, cause)
        for event, envelope in zip(pending, envelopes, strict=True):
            await self._project(aggregate, event, envelope, note, changes, detail)
        return envelopes

    async def _project(self, plan: TreatmentPlan, event: DomainEvent, envelope: EventEnvelope,
                       note: str | None, changes: Sequence[AppliedChange],
                       detail: TransitionDetail) -> None:
        assert plan.contents is not None
        match event:
            case PlanDrafted():
                await _write_contents(self.conn, plan.id, event.site_id, event.plan_id,
                                      plan.contents)
                await _write_revision(self.conn, event, envelope, None, None, self.recorded_by,
                                      (), [], plan.contents)
                await _set_status(self.conn, plan.id, PlanStatus.ACTIVE)
            case PlanRevised():
                await _write_contents(self.conn, plan.id, event.site_id, event.plan_id,
                                      plan.contents)
                await _write_revision(self.conn, event, envelope, event.reason.value, note,
                                      self.recorded_by, event.changes,
                                      [change_view(c) for c in changes], plan.contents)
            case SteppedDown() | SteppedUp() | Discharged():
                await self._write_transition(event, envelope, detail)
                await _set_status(self.conn, plan.id, plan.status)

    async def _write_transition(self, event: SteppedDown | SteppedUp | Discharged,
                                envelope: EventEnvelope, detail: TransitionDetail) -> None:
        kind, to_level, aftercare, follow_up, reasons, outcome = (
            PlanStatus.DISCHARGED, None, None, None, None, None)
        match event:
            case SteppedDown():
                kind, to_level = PlanStatus.STEPPED_DOWN, event.to_level.value
                aftercare, follow_up = event.aftercare, event.follow_up_within_days
            case SteppedUp():
                kind, to_level = PlanStatus.STEPPED_UP, event.to_level.value
                reasons = event.reason_codes
            case Discharged():
                outcome = event.outcome.value
        await self.conn.execute(
            "INSERT INTO care_transitions (patient_id, site_id, kind, effective_on, to_level,"
            " aftercare, follow_up_within_days, reason_codes, outcome, clinician_id,"
            " override_reason, overridden_criteria, event_id, recorded_at, recorded_by)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            event.patient_id, event.site_id, kind.value, event.effective_on, to_level, aftercare,
            follow_up, reasons, outcome, detail.clinician_id, detail.override_reason,
            list(detail.overridden_criteria) or None, envelope.id, envelope.time,
            self.recorded_by,
        )


def change_view(change: AppliedChange) -> dict[str, Any]:
    """One applied change as the revision history shows it."""
    match change:
        case InterventionAdded():
            added = change.intervention
            return {"change": "add_intervention", "intervention_id": added.id,
                    "modality": added.modality.value,
                    "sessions_per_week": added.sessions_per_week,
                    "addresses": list(added.addresses), "clinician_id": added.clinician_id,
                    "target_date": added.target_date.isoformat()}
        case InterventionRemoved():
            removed = change.intervention
            return {"change": "remove_intervention", "intervention_id": removed.id,
                    "modality": removed.modality.value}
        case FrequencyChanged():
            return {"change": "change_frequency", "intervention_id": change.intervention_id,
                    "modality": change.modality.value, "from": change.before, "to": change.after}
    raise TypeError(change)


async def _write_contents(conn: Connection, patient_id: str, site_id: str, plan_id: str,
                          contents: PlanContents) -> None:
    await conn.execute(
        "INSERT INTO treatment_plans (patient_id, site_id, plan_id, revision, start_date,"
        " target_date, clinician_id, last_intervention_number) VALUES ($1, $2, $3, $4, $5,"
        " $6, $7, $8) ON CONFLICT (patient_id) DO UPDATE SET revision = $4,"
        " last_intervention_number = $8, updated_at = now()",
        patient_id, site_id, plan_id, contents.revision, contents.start_date,
        contents.target_date, contents.clinician_id, contents.last_intervention_number,
    )
    for table in ("plan_problems", "plan_goals", "plan_objectives", "plan_interventions"):
        await conn.execute(f"DELETE FROM {table} WHERE patient_id = $1", patient_id)
    goals = [(p, g) for p in contents.problems for g in p.goals]
    await conn.executemany(
        "INSERT INTO plan_problems (patient_id, site_id, problem_id, position, code, text)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        [(patient_id, site_id, p.id, n, p.code.value, p.text)
         for n, p in enumerate(contents.problems)],
    )
    await conn.executemany(
        "INSERT INTO plan_goals (patient_id, site_id, goal_id, problem_id, position, text)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        [(patient_id, site_id, g.id, p.id, n, g.text) for n, (p, g) in enumerate(goals)],
    )
    await conn.executemany(
        "INSERT INTO plan_objectives (patient_id, site_id, objective_id, goal_id, position,"
        " text, target_date) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [(patient_id, site_id, o.id, g.id, n, o.text, o.target_date)
         for n, (g, o) in enumerate((g, o) for _, g in goals for o in g.objectives)],
    )
    await conn.executemany(
        "INSERT INTO plan_interventions (patient_id, site_id, intervention_id, position,"
        " modality, sessions_per_week, clinician_id, target_date, addresses)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [(patient_id, site_id, i.id, n, i.modality.value, i.sessions_per_week, i.clinician_id,
          i.target_date, list(i.addresses)) for n, i in enumerate(contents.interventions)],
    )


async def _write_revision(conn: Connection, event: PlanDrafted | PlanRevised,
                          envelope: EventEnvelope, reason: str | None, note: str | None,
                          recorded_by: str | None, codes: Sequence[str],
                          changes: list[dict[str, Any]], contents: PlanContents) -> None:
    await conn.execute(
        "INSERT INTO plan_revisions (patient_id, site_id, revision, event_id, recorded_at,"
        " reason, note, recorded_by, change_codes, changes, interventions)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        event.patient_id, event.site_id, event.revision, envelope.id, envelope.time, reason,
        note, recorded_by, list(codes), changes,
        [i.model_dump(mode="json") for i in event.interventions],
    )


async def load_contents(conn: Connection, patient_id: str) -> PlanContents:
    """The current revision of a patient's plan, as the read model holds it."""
    plan = await conn.fetchrow("SELECT * FROM treatment_plans WHERE patient_id = $1",
                               patient_id)
    if plan is None:
        raise LookupError(f"no plan for {patient_id}")
    problems = await conn.fetch(
        "SELECT * FROM plan_problems WHERE patient_id = $1 ORDER BY position", patient_id)
    goals = await conn.fetch(
        "SELECT * FROM plan_goals WHERE patient_id = $1 ORDER BY position", patient_id)
    objectives = await conn.fetch(
        "SELECT * FROM plan_objectives WHERE patient_id = $1 ORDER BY position", patient_id)
    interventions = await conn.fetch(
        "SELECT * FROM plan_interventions WHERE patient_id = $1 ORDER BY position", patient_id)

    def goals_of(problem_id: str) -> tuple[Goal, ...]:
        return tuple(
            Goal(g["goal_id"], g["text"], tuple(
                Objective(o["objective_id"], o["text"], o["target_date"])
                for o in objectives if o["goal_id"] == g["goal_id"]
            ))
            for g in goals if g["problem_id"] == problem_id
        )

    return PlanContents(
        revision=plan["revision"], start_date=plan["start_date"],
        target_date=plan["target_date"], clinician_id=plan["clinician_id"],
        problems=tuple(Problem(p["problem_id"], ProblemCode(p["code"]), p["text"],
                               goals_of(p["problem_id"])) for p in problems),
        interventions=tuple(
            Intervention(i["intervention_id"], Modality(i["modality"]), i["sessions_per_week"],
                         i["clinician_id"], i["target_date"], tuple(i["addresses"]))
            for i in interventions
        ),
        last_intervention_number=plan["last_intervention_number"],
    )


async def find_plan(conn: Connection, patient_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM treatment_plans WHERE patient_id = $1", patient_id)
    return dict(row) if row else None


async def list_revisions(conn: Connection, patient_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT revision, recorded_at, reason, note, recorded_by, change_codes, changes,"
        " interventions FROM plan_revisions WHERE patient_id = $1 ORDER BY revision",
        patient_id,
    )
    return [dict(row) for row in rows]


async def find_transition(conn: Connection, patient_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM care_transitions WHERE patient_id = $1",
                              patient_id)
    return dict(row) if row else None


# --- Progress -----------------------------------------------------------------------------


async def session_scheduled(conn: Connection, patient_id: str, site_id: str, session_id: str,
                            kind: str, modality: str, starts_at: Any, held_on: date,
                            duration_minutes: int, waitlisted: bool) -> None:
    await conn.execute(
        "INSERT INTO session_attendance (patient_id, session_id, site_id, kind, modality,"
        " starts_at, held_on, duration_minutes, waitlisted, status)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'scheduled')"
        " ON CONFLICT (patient_id, session_id) DO UPDATE SET kind = $4, modality = $5,"
        " starts_at = $6, held_on = $7, duration_minutes = $8,"
        " waitlisted = $9 AND session_attendance.status = 'scheduled', updated_at = now()",
        patient_id, session_id, site_id, kind, modality, starts_at, held_on, duration_minutes,
        waitlisted,
    )


async def session_outcome(conn: Connection, patient_id: str, site_id: str, session_id: str,
                          status: SessionStatus, on: date, late_minutes: int = 0,
                          credited_minutes: int = 0) -> None:
    """Attended or missed; a session not seen scheduled is dated by the outcome."""
    await conn.execute(
        "INSERT INTO session_attendance (patient_id, session_id, site_id, held_on, status,"
        " late_minutes, credited_minutes) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (patient_id, session_id) DO UPDATE SET status = $5, late_minutes = $6,"
        " credited_minutes = $7, waitlisted = false, updated_at = now()",
        patient_id, session_id, site_id, on, status.value, late_minutes, credited_minutes,
    )


async def sessions_cancelled(conn: Connection, patient_id: str, session_ids: list[str]) -> None:
    await conn.execute(
        "UPDATE session_attendance SET status = 'cancelled', updated_at = now()"
        " WHERE patient_id = $1 AND session_id = ANY($2::text[]) AND status = 'scheduled'",
        patient_id, session_ids,
    )


async def outcome_measured(conn: Connection, patient_id: str, site_id: str, measure_id: str,
                           instrument: str, total: int, item9: int | None, measured_on: date,
                           program_week: int) -> None:
    await conn.execute(
        "INSERT INTO outcome_measures (patient_id, measure_id, site_id, instrument, total,"
        " item9, measured_on, program_week) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (patient_id, measure_id) DO NOTHING",
        patient_id, measure_id, site_id, instrument, total, item9, measured_on, program_week,
    )


async def risk_signal_raised(conn: Connection, event_id: str, patient_id: str, site_id: str,
                             signal: str, observed_on: date, raised_by: str) -> None:
    await conn.execute(
        "INSERT INTO risk_signals (event_id, patient_id, site_id, signal, observed_on,"
        " raised_by) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
        event_id, patient_id, site_id, signal, observed_on, raised_by,
    )


async def load_progress(conn: Connection, episode: CareEpisode) -> ProgressRecord:
    sessions = await conn.fetch(
        "SELECT session_id, held_on, status, waitlisted, late_minutes FROM session_attendance"
        " WHERE patient_id = $1 ORDER BY held_on, starts_at NULLS LAST", episode.patient_id)
    measures = await conn.fetch(
        "SELECT instrument, measured_on, total, item9, program_week FROM outcome_measures"
        " WHERE patient_id = $1 ORDER BY measured_on, recorded_at", episode.patient_id)
    signals = await conn.fetch(
        "SELECT signal, observed_on FROM risk_signals WHERE patient_id = $1"
        " ORDER BY observed_on, recorded_at", episode.patient_id)
    return ProgressRecord(
        starts_on=episode.starts_on, baseline_phq9=episode.baseline_phq9,
        baseline_gad7=episode.baseline_gad7,
        sessions=[SessionRecord(s["session_id"], s["held_on"], SessionStatus(s["status"]),
                                s["waitlisted"], s["late_minutes"]) for s in sessions],
        measures=[Measure(m["instrument"], m["measured_on"], m["total"], m["item9"],
                          m["program_week"]) for m in measures],
        signals=[SignalRecord(s["signal"], s["observed_on"]) for s in signals],
    )


# --- Family consents -----------------------------------------------------------------------


async def consent_granted(conn: Connection, event: ConsentGranted, granted_at: datetime
                          ) -> None:
    await conn.execute(
        "INSERT INTO family_consents (patient_id, consent_id, site_id, support_person_id, scope,"
        " expires_on, granted_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        event.patient_id, event.consent_id, event.site_id, event.support_person_id,
        event.scope.value, event.expires_on, granted_at,
    )


async def consent_ended(conn: Connection, patient_id: str, consent_id: str, *,
                        revoked_at: datetime | None = None, expired_on: date | None = None
                        ) -> None:
    """A consent revoked (at ``revoked_at``) or expired (from ``expired_on``): the first
    word of either kind stays."""
    await conn.execute(
        "UPDATE family_consents SET revoked_at = coalesce(revoked_at, $3),"
        " expired_on = coalesce(expired_on, $4) WHERE patient_id = $1 AND consent_id = $2",
        patient_id, consent_id, revoked_at, expired_on,
    )


async def family_consents(conn: Connection, patient_id: str) -> list[FamilyConsent]:
    rows = await conn.fetch(
        "SELECT consent_id, expires_on, revoked_at, expired_on FROM family_consents"
        " WHERE patient_id = $1",
        patient_id)
    return [FamilyConsent(r["consent_id"], r["expires_on"], r["revoked_at"] is not None,
                          r["expired_on"] is not None)
            for r in rows]


async def outcomes_by_site(conn: Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        WITH latest AS (
            SELECT DISTINCT ON (patient_id) patient_id, total FROM outcome_measures
            WHERE instrument = 'phq9' ORDER BY patient_id, measured_on DESC, recorded_at DESC
        ), episodes AS (
            SELECT e.site_id, e.plan_status, e.baseline_phq9, l.total AS latest
            FROM care_episodes e LEFT JOIN latest l USING (patient_id)
        ), statuses AS (
            SELECT site_id, jsonb_object_agg(plan_status, n) AS by_status
            FROM (SELECT site_id, plan_status, count(*) AS n FROM episodes GROUP BY 1, 2) c
            GROUP BY site_id
        )
        SELECT site_id, count(*) AS episodes, by_status, count(latest) AS measured,
               round(avg(baseline_phq9), 1)::float AS mean_baseline_phq9,
               round(avg(latest), 1)::float AS mean_latest_phq9,
               count(*) FILTER (WHERE baseline_phq9 > 0 AND latest * 2 <= baseline_phq9)
                   AS responders,
               count(*) FILTER (WHERE latest < 5) AS remissions
        FROM episodes JOIN statuses USING (site_id)
        GROUP BY site_id, by_status ORDER BY site_id
        """
    )
    return [dict(row) for row in rows]
