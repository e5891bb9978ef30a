"""What every exit from the program records: the summary and the aftercare follow-up. Pure.

- First and last PHQ-9 of the episode, response (the last at least 50% below the
  baseline) and remission (the last below 5): Kroenke et al. 2001; Löwe et al. 2004.
- Attendance: sessions attended of those the patient was expected at, to the exit day.
- Risk history: every risk signal of the episode (intake's and sessions').
- Aftercare follow-up: within 7 days by default, 30 at most (HEDIS Follow-Up After
  Hospitalization for Mental Illness, FUH: the 7-day and 30-day rates).
- Leaving against advice raises an urgent alert: a clinician must act today.
- The safety plan: recorded or not (intake publishes it), and whether it was reviewed
  since the latest risk finding (``safety_plan.check_safety_plan``).
"""

from __future__ import annotations

from datetime import date

from iopnet.catalog import DischargeOutcome, ExitSummarized
from services.plans.domain.plan_drafting import InvalidPlanInput
from services.plans.domain.progress import (
    REMISSION_BELOW,
    ProgressRecord,
    attendance,
    phq9_series,
    responded,
)
from services.plans.domain.safety_plan import SafetyPlanCheck

FOLLOW_UP_DEFAULT_DAYS = 7
FOLLOW_UP_MAX_DAYS = 30


def check_follow_up(days: int | None, field: str = "follow_up_within_days") -> int:
    """The aftercare follow-up in days: 7 unless said, never beyond 30 (HEDIS FUH)."""
    if days is None:
        return FOLLOW_UP_DEFAULT_DAYS
    if not 1 <= days <= FOLLOW_UP_MAX_DAYS:
        raise InvalidPlanInput(field, f"follow-up is within 1 to {FOLLOW_UP_MAX_DAYS} days "
                                      "(HEDIS FUH)")
    return days


def summarize_exit(record: ProgressRecord, exit_kind: str, effective_on: date, *,
                   follow_up_within_days: int | None, safety_plan: SafetyPlanCheck,
                   outcome: DischargeOutcome | None = None) -> ExitSummarized:
    """The exit's summary; ``patient_id`` and ``site_id`` are the plan's to fill in."""
    measures = phq9_series(record, effective_on)
    last = measures[-1].total if measures else None
    held = attendance(record.sessions, effective_on)
    return ExitSummarized(
        patient_id="", site_id="", exit=exit_kind, effective_on=effective_on,
        baseline_phq9=record.baseline_phq9,
        first_phq9=measures[0].total if measures else None, last_phq9=last,
        response=last is not None and responded(record.baseline_phq9, last),
        remission=last is not None and last < REMISSION_BELOW,
        sessions_attended=held.attended, sessions_scheduled=held.scheduled_to_date,
        risk_signals=sorted({s.signal for s in record.signals if s.observed_on <= effective_on}),
        safety_plan=safety_plan.status.value,
        safety_plan_reviewed_since_risk=safety_plan.reviewed_since_last_finding,
        follow_up_within_days=follow_up_within_days,
        urgent_alert=outcome is DischargeOutcome.LEFT_AGAINST_ADVICE,
    )
