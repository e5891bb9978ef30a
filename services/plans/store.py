"""Plans' adapters: the SQL that writes its derived tables and reads them back.

Only projections write here (``projections`` for plans' own events,
``projections`` for the events plans consumes); every write takes its time from
the event, never from the clock, so a rebuild writes the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from iopnet.catalog import (
    ConsentGranted,
    ConsentScope,
    Discharged,
    ExitSummarized,
    PlanDrafted,
    PlanRevised,
    SafetyPlanRecorded,
    SafetyPlanReviewed,
    SessionsScheduled,
    SitePolicies,
    SteppedDown,
    SteppedUp,
)
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from services.plans.domain import (
    CareEpisode,
    ContinuedStayApproved,
    FamilyConsent,
    FamilyTherapySuggested,
    FamilyTherapySuggestionClosed,
    PlanStatus,
    PlanWritten,
    RevisionNoted,
    SafetyPlanCheck,
    TransitionConfirmed,
)
from services.plans.domain import check_safety_plan as domain_check_safety_plan
from services.plans.domain.events import WrittenProblem
from services.plans.domain.plan_drafting import (
    Goal,
    Intervention,
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
from services.plans.domain.step_down import StepDownPolicy

#: Every table holding a patient's rows (each has patient_id): they follow the patient to
#: a new site on transfer, and are deleted, last listed first, when the patient is
#: forgotten. A plan's parts are listed after the plan.
PATIENT_TABLES = (
    "care_episodes", "treatment_plans", "plan_problems", "plan_goals", "plan_objectives",
    "plan_interventions", "plan_revisions", "care_transitions", "session_attendance",
    "outcome_measures", "risk_signals", "family_consents", "family_therapy_suggestions",
    "continued_stays", "safety_plan_reviews",
)
#: Every table of plans' own is written by projections only (its own events' and those it
#: consumes): what a rebuild rebuilds.
DERIVED_TABLES = PATIENT_TABLES


# --- Care episodes ------------------------------------------------------------------------


async def open_episode(conn: Connection, episode: CareEpisode, at: datetime) -> None:
    """Records the admission's facts; a second admission of the same patient changes nothing."""
    await conn.execute(
        "INSERT INTO care_episodes (patient_id, site_id, program_id, clinician_id, starts_on,"
        " planned_end, days_per_week, planned_weeks, baseline_phq9, baseline_gad7,"
        " auditc_positive, risk_level, co_occurring, plan_status, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        " ON CONFLICT (patient_id) DO NOTHING",
        episode.patient_id, episode.site_id, episode.program_id, episode.clinician_id,
        episode.starts_on, episode.planned_end, episode.days_per_week, episode.planned_weeks,
        episode.baseline_phq9, episode.baseline_gad7, episode.auditc_positive,
        episode.risk_level, list(episode.co_occurring), PlanStatus.AWAITING_DRAFT.value, at,
    )


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


async def plan_status_changed(conn: Connection, patient_id: str, status: PlanStatus,
                              at: datetime) -> None:
    await conn.execute(
        "UPDATE care_episodes SET plan_status = $2, updated_at = $3 WHERE patient_id = $1",
        patient_id, status.value, at,
    )


# --- Sites ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteRules:
    """What plans needs of a site, read in one go: its time zone and step-down criteria."""

    zone: ZoneInfo
    step_down: StepDownPolicy

    def today(self) -> date:
        """The date at the site: a clinic's day, not the server's."""
        return datetime.now(UTC).astimezone(self.zone).date()


async def site_rules(conn: Connection, site_id: str) -> SiteRules:
    """A site's rules; UTC and the network's defaults for a site not (yet) known here."""
    row = await conn.fetchrow("SELECT time_zone, policies FROM sites WHERE site_id = $1",
                              site_id)
    policies = SitePolicies.model_validate(row["policies"]) if row else SitePolicies()
    return SiteRules(ZoneInfo(row["time_zone"] if row else "UTC"), StepDownPolicy(
        min_weeks_in_program=policies.step_down_min_weeks,
        phq9_threshold=policies.step_down_phq9_below,
        response_drop=policies.step_down_response_drop,
        consecutive_measures=policies.step_down_consecutive_measures,
        min_attendance_rate=policies.step_down_min_attendance,
    ))


# --- Treatment plans ----------------------------------------------------------------------


async def plan_written(conn: Connection, written: PlanWritten, at: datetime) -> None:
    """The plan's current revision in full; its words only while the patient is known."""
    patient_id, site_id = written.patient_id, written.site_id
    await conn.execute(
        "INSERT INTO treatment_plans (patient_id, site_id, plan_id, revision, start_date,"
        " target_date, clinician_id, last_intervention_number, updated_at) VALUES ($1, $2, $3,"
        " $4, $5, $6, $7, $8, $9) ON CONFLICT (patient_id) DO UPDATE SET revision = $4,"
        " last_intervention_number = $8, updated_at = $9",
        patient_id, site_id, written.plan_id, written.revision, written.start_date,
        written.target_date, written.clinician_id, written.last_intervention_number, at,
    )
    for table in ("plan_problems", "plan_goals", "plan_objectives", "plan_interventions"):
        await conn.execute(f"DELETE FROM {table} WHERE patient_id = $1", patient_id)
    if written.problems is not None:  # None: the patient was forgotten
        await _write_problems(conn, patient_id, site_id, written.problems)
    await conn.executemany(
        "INSERT INTO plan_interventions (patient_id, site_id, intervention_id, position,"
        " modality, sessions_per_week, clinician_id, target_date, addresses)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [(patient_id, site_id, i.intervention_id, n, i.modality.value, i.sessions_per_week,
          i.clinician_id, i.target_date, i.addresses)
         for n, i in enumerate(written.interventions)],
    )


async def _write_problems(conn: Connection, patient_id: str, site_id: str,
                          problems: Sequence[WrittenProblem]) -> None:
    goals = [(p, g) for p in problems for g in p.goals]
    await conn.executemany(
        "INSERT INTO plan_problems (patient_id, site_id, problem_id, position, code, text)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        [(patient_id, site_id, p.problem_id, n, p.code, p.text) for n, p in enumerate(problems)],
    )
    await conn.executemany(
        "INSERT INTO plan_goals (patient_id, site_id, goal_id, problem_id, position, text)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        [(patient_id, site_id, g.goal_id, p.problem_id, n, g.text)
         for n, (p, g) in enumerate(goals)],
    )
    await conn.executemany(
        "INSERT INTO plan_objectives (patient_id, site_id, objective_id, goal_id, position,"
        " text, target_date) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [(patient_id, site_id, o.objective_id, g.goal_id, n, o.text, o.target_date)
         for n, (g, o) in enumerate((g, o) for _, g in goals for o in g.objectives)],
    )


async def revision_recorded(conn: Connection, event: PlanDrafted | PlanRevised,
                            envelope: EventEnvelope) -> None:
    """A revision in the history, the draft included; who and why follow (RevisionNoted)."""
    reason, codes = (None, []) if isinstance(event, PlanDrafted) else (
        event.reason.value, list(event.changes))
    await conn.execute(
        "INSERT INTO plan_revisions (patient_id, site_id, revision, event_id, recorded_at,"
        " reason, change_codes, changes, interventions)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, '[]'::jsonb, $8)",
        event.patient_id, event.site_id, event.revision, envelope.id, envelope.time, reason,
        codes, [i.model_dump(mode="json") for i in event.interventions],
    )


async def revision_noted(conn: Connection, noted: RevisionNoted) -> None:
    await conn.execute(
        "UPDATE plan_revisions SET note = $3, recorded_by = $4, changes = $5"
        " WHERE patient_id = $1 AND revision = $2",
        noted.patient_id, noted.revision, noted.note, noted.recorded_by, noted.changes,
    )


async def transition_recorded(conn: Connection, event: SteppedDown | SteppedUp | Discharged,
                              envelope: EventEnvelope) -> PlanStatus:
    """How the episode ended; who confirmed it follows (TransitionConfirmed)."""
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
    await conn.execute(
        "INSERT INTO care_transitions (patient_id, site_id, kind, effective_on, to_level,"
        " aftercare, follow_up_within_days, reason_codes, outcome, event_id, recorded_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        event.patient_id, event.site_id, kind.value, event.effective_on, to_level, aftercare,
        follow_up, reasons, outcome, envelope.id, envelope.time,
    )
    return kind


async def exit_summarized(conn: Connection, summary: ExitSummarized) -> None:
    await conn.execute(
        "UPDATE care_transitions SET summary = $2 WHERE patient_id = $1", summary.patient_id,
        summary.model_dump(mode="json", exclude={"patient_id", "site_id"}))


async def transition_confirmed(conn: Connection, confirmed: TransitionConfirmed) -> None:
    await conn.execute(
        "UPDATE care_transitions SET clinician_id = $2, override_reason = $3,"
        " overridden_criteria = $4, recorded_by = $5 WHERE patient_id = $1",
        confirmed.patient_id, confirmed.clinician_id, confirmed.override_reason,
        confirmed.overridden_criteria or None, confirmed.recorded_by,
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


async def plan_patient(conn: Connection, plan_id: str) -> str | None:
    """Whose plan this is, when the caller's site sees it."""
    patient_id = await conn.fetchval(
        "SELECT patient_id::text FROM treatment_plans WHERE plan_id = $1", plan_id)
    return str(patient_id) if patient_id else None


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


async def sessions_scheduled(conn: Connection, scheduled: SessionsScheduled, zone: ZoneInfo,
                             at: datetime) -> None:
    """Each session of the schedule, held on its date at the site (``zone``)."""
    await conn.executemany(
        "INSERT INTO session_attendance (patient_id, session_id, site_id, kind, modality,"
        " starts_at, held_on, duration_minutes, waitlisted, status, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'scheduled', $10)"
        " ON CONFLICT (patient_id, session_id) DO UPDATE SET kind = $4, modality = $5,"
        " starts_at = $6, held_on = $7, duration_minutes = $8,"
        " waitlisted = $9 AND session_attendance.status = 'scheduled', updated_at = $10",
        [(scheduled.patient_id, s.session_id, scheduled.site_id, s.kind.value, s.modality.value,
          starts_at, starts_at.astimezone(zone).date(), s.duration_minutes, s.waitlisted, at)
         for s in scheduled.sessions for starts_at in [_aware(s.starts_at)]],
    )


def _aware(instant: datetime) -> datetime:
    """A time without a zone is UTC's."""
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


async def session_outcome(conn: Connection, patient_id: str, site_id: str, session_id: str,
                          status: SessionStatus, on: date, at: datetime, late_minutes: int = 0,
                          credited_minutes: int = 0) -> None:
    """Attended or missed; a session not seen scheduled is dated by the outcome."""
    await conn.execute(
        "INSERT INTO session_attendance (patient_id, session_id, site_id, held_on, status,"
        " late_minutes, credited_minutes, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (patient_id, session_id) DO UPDATE SET status = $5, late_minutes = $6,"
        " credited_minutes = $7, waitlisted = false, updated_at = $8",
        patient_id, session_id, site_id, on, status.value, late_minutes, credited_minutes, at,
    )


async def sessions_cancelled(conn: Connection, patient_id: str, session_ids: list[str],
                             at: datetime) -> None:
    await conn.execute(
        "UPDATE session_attendance SET status = 'cancelled', updated_at = $3"
        " WHERE patient_id = $1 AND session_id = ANY($2::text[]) AND status = 'scheduled'",
        patient_id, session_ids, at,
    )


async def outcome_measured(conn: Connection, patient_id: str, site_id: str, measure_id: str,
                           instrument: str, total: int, item9: int | None, measured_on: date,
                           program_week: int, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO outcome_measures (patient_id, measure_id, site_id, instrument, total,"
        " item9, measured_on, program_week, recorded_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT (patient_id, measure_id) DO NOTHING",
        patient_id, measure_id, site_id, instrument, total, item9, measured_on, program_week, at,
    )


async def risk_signal_raised(conn: Connection, event_id: str, patient_id: str, site_id: str,
                             signal: str, observed_on: date, raised_by: str, at: datetime
                             ) -> None:
    await conn.execute(
        "INSERT INTO risk_signals (event_id, patient_id, site_id, signal, observed_on,"
        " raised_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (event_id) DO NOTHING",
        event_id, patient_id, site_id, signal, observed_on, raised_by, at,
    )


async def phq9_measures(conn: Connection, patient_id: str) -> list[tuple[str, Measure]]:
    """Every PHQ-9 sessions measured for the patient, by measure id, oldest first."""
    rows = await conn.fetch(
        "SELECT measure_id, instrument, measured_on, total, item9, program_week"
        " FROM outcome_measures WHERE patient_id = $1 AND instrument = 'phq9'"
        " ORDER BY measured_on, recorded_at", patient_id)
    return [(r["measure_id"], Measure(r["instrument"], r["measured_on"], r["total"], r["item9"],
                                      r["program_week"])) for r in rows]


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


# --- The safety plan (intake's) ------------------------------------------------------------


async def safety_plan_written(conn: Connection, event: SafetyPlanRecorded | SafetyPlanReviewed,
                              event_id: str, at: datetime) -> None:
    recorded = isinstance(event, SafetyPlanRecorded)
    await conn.execute(
        "INSERT INTO safety_plan_reviews (event_id, patient_id, site_id, safety_plan_id, kind,"
        " reviewed_on, clinician_id, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (event_id) DO NOTHING",
        event_id, event.patient_id, event.site_id, event.safety_plan_id,
        "recorded" if recorded else "reviewed",
        event.recorded_on if isinstance(event, SafetyPlanRecorded) else event.reviewed_on,
        event.clinician_id, at,
    )


async def check_safety_plan(conn: Connection, record: ProgressRecord, patient_id: str,
                            as_of: date) -> SafetyPlanCheck:
    """The patient's safety plan against the risk findings of ``record``, as of a day."""
    days = await conn.fetch("SELECT reviewed_on FROM safety_plan_reviews WHERE patient_id = $1",
                            patient_id)
    return domain_check_safety_plan([r["reviewed_on"] for r in days], record.signals, as_of)


# --- Family consents -----------------------------------------------------------------------


async def consent_granted(conn: Connection, event: ConsentGranted, granted_at: datetime
                          ) -> None:
    await conn.execute(
        "INSERT INTO family_consents (patient_id, consent_id, site_id, support_person_id, scope,"
        " expires_on, granted_at, covers) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT DO NOTHING",
        event.patient_id, event.consent_id, event.site_id, event.support_person_id,
        event.scope.value, event.expires_on, granted_at, [c.value for c in event.covers],
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
        "SELECT consent_id, expires_on, revoked_at, expired_on, covers FROM family_consents"
        " WHERE patient_id = $1 ORDER BY granted_at, consent_id",
        patient_id)
    return [FamilyConsent(r["consent_id"], r["expires_on"], r["revoked_at"] is not None,
                          r["expired_on"] is not None,
                          ConsentScope.FAMILY_PARTICIPATION.value in r["covers"])
            for r in rows]


# --- Family therapy suggestions ------------------------------------------------------------


async def family_therapy_suggested(conn: Connection, event: FamilyTherapySuggested,
                                   at: datetime) -> None:
    await conn.execute(
        "INSERT INTO family_therapy_suggestions (patient_id, suggestion_id, site_id,"
        " consent_id, suggested_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        event.patient_id, event.suggestion_id, event.site_id, event.consent_id, at)


async def family_therapy_suggestion_closed(conn: Connection,
                                           event: FamilyTherapySuggestionClosed,
                                           at: datetime) -> None:
    await conn.execute(
        "UPDATE family_therapy_suggestions SET status = $3, closed_at = $4, revision = $5,"
        " clinician_id = $6, reason = $7, recorded_by = $8"
        " WHERE patient_id = $1 AND suggestion_id = $2",
        event.patient_id, event.suggestion_id, event.outcome, at, event.revision,
        event.clinician_id, event.reason, event.recorded_by)


async def list_family_therapy_suggestions(conn: Connection, patient_id: str
                                          ) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT suggestion_id, consent_id, suggested_at, status, closed_at, revision,"
        " clinician_id, reason, recorded_by FROM family_therapy_suggestions"
        " WHERE patient_id = $1 ORDER BY suggested_at, suggestion_id", patient_id)
    return [dict(row) for row in rows]


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


# --- Continued stays ------------------------------------------------------------------------


async def continued_stay_approved(conn: Connection, event: ContinuedStayApproved,
                                  at: datetime) -> None:
    await conn.execute(
        "INSERT INTO continued_stays (patient_id, extension, site_id, weeks_added, planned_end,"
        " clinician_id, reason, recorded_by, recorded_at) SELECT $1, coalesce(max(extension),"
        " 0) + 1, $2, $3, $4, $5, $6, $7, $8 FROM continued_stays WHERE patient_id = $1",
        event.patient_id, event.site_id, event.weeks_added, event.planned_end,
        event.clinician_id, event.reason, event.recorded_by, at)


async def list_continued_stays(conn: Connection, patient_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT extension, weeks_added, planned_end, clinician_id, reason, recorded_by,"
        " recorded_at FROM continued_stays WHERE patient_id = $1 ORDER BY extension",
        patient_id)
    return [dict(row) for row in rows]
