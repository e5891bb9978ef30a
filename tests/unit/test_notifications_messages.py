"""Which messages each event calls for: kind, recipient, channel, due time, urgency."""

from datetime import UTC, date, datetime, timedelta

import pytest

from iopnet.catalog import (
    AttendanceBelowMinimum,
    Channel,
    Discharged,
    DischargeOutcome,
    LevelOfCare,
    Modality,
    OutreachNeeded,
    PatientAdmitted,
    Phq9Trend,
    ProgressJudged,
    RecipientRole,
    ScheduledSession,
    SessionKind,
    SessionScheduled,
    SessionsScheduled,
    SteppedDown,
    SteppedUp,
    schedule_of,
)
from services.notifications.domain import (
    MessageDraft,
    MessageKind,
    Occasion,
    Progress,
    aftercare_summary,
    attendance_review,
    discharge_notice,
    family_progress_update,
    family_schedule_update,
    outreach,
    progress_of,
    session_reminders,
    step_up_notice,
    welcome,
)
from services.notifications.domain.message import message_id_of

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
OCCASION = Occasion("e-1", "iopnet.X", "corr-1", NOW)
WHO = {"patient_id": "p-1", "site_id": "site-north"}
DAY = timedelta(hours=24)


def session(starts_at: datetime, waitlisted: bool = False, session_id: str = "s-1"
            ) -> ScheduledSession:
    return ScheduledSession(session_id=session_id, kind=SessionKind.GROUP,
                            modality=Modality.GROUP_THERAPY, starts_at=starts_at,
                            duration_minutes=180, clinician_id="clin-7", waitlisted=waitlisted)


def scheduled(*sessions: ScheduledSession) -> SessionsScheduled:
    return SessionsScheduled(**WHO, sessions=list(sessions))


def roles(drafts: list[MessageDraft]) -> list[tuple[RecipientRole, Channel]]:
    return [(d.recipient.role, d.recipient.channel) for d in drafts]


def test_admission_welcomes_the_patient_with_the_schedule_outline() -> None:
    [draft] = welcome(PatientAdmitted(**WHO, program_id="iop-adult",
                                      start_date=date(2026, 12, 7), days_per_week=4,
                                      planned_weeks=10, clinician_id="clin-7",
                                      baseline_phq9=18), OCCASION)
    assert (draft.kind, draft.recipient.role, draft.due_at) == (
        MessageKind.WELCOME, RecipientRole.PATIENT, NOW)
    assert draft.facts["days_per_week"] == 4
    assert not draft.urgent


def test_a_reminder_is_due_a_day_before_the_session() -> None:
    starts = NOW + timedelta(days=3)
    [draft] = session_reminders(scheduled(session(starts)), OCCASION, NOW, DAY)
    assert (draft.kind, draft.due_at, draft.session_id) == (
        MessageKind.SESSION_REMINDER, starts - DAY, "s-1")


def test_a_session_within_the_lead_is_reminded_now_and_a_past_one_not_at_all() -> None:
    [soon] = session_reminders(scheduled(session(NOW + timedelta(hours=3)),
                                         session(NOW - timedelta(hours=1), session_id="s-0")),
                               OCCASION, NOW, DAY)
    assert soon.due_at == NOW and soon.session_id == "s-1"


def test_a_waitlist_place_gets_no_reminder() -> None:
    assert session_reminders(scheduled(session(NOW + timedelta(days=3), waitlisted=True)),
                             OCCASION, NOW, DAY) == []


def test_a_schedule_reminds_of_each_session_as_distinct_messages() -> None:
    starts = [NOW + timedelta(days=d) for d in (2, 3, 4)]
    drafts = session_reminders(scheduled(*(session(s, session_id=f"s-{i}")
                                           for i, s in enumerate(starts))), OCCASION, NOW, DAY)
    assert [(d.session_id, d.due_at, d.occasion) for d in drafts] == [
        (f"s-{i}", s - DAY, OCCASION) for i, s in enumerate(starts)]
    assert len({message_id_of(d) for d in drafts}) == 3  # one cause, three messages


def test_an_older_producers_session_scheduled_is_reminded_of_alike() -> None:
    starts = NOW + timedelta(days=3)
    old = SessionScheduled(**WHO, **session(starts).model_dump())
    assert session_reminders(schedule_of(old), OCCASION, NOW, DAY) == session_reminders(
        scheduled(session(starts)), OCCASION, NOW, DAY)


def test_outreach_goes_to_the_patient_and_the_clinical_team() -> None:
    drafts = outreach(OutreachNeeded(**WHO, consecutive_absences=2,
                                     last_missed_session_id="s-9"), OCCASION)
    assert [d.kind for d in drafts] == [MessageKind.OUTREACH, MessageKind.CLINICIAN_OUTREACH]
    assert roles(drafts) == [(RecipientRole.PATIENT, Channel.EMAIL),
                             (RecipientRole.CLINICIAN, Channel.EMAIL)]


def test_a_week_below_the_minimum_flags_the_case_for_the_clinical_team() -> None:
    below = AttendanceBelowMinimum(**WHO, week_starting=date(2026, 11, 23), hours=5.5,
                                   minimum_hours=9.0)
    [draft] = attendance_review(below, OCCASION)
    assert (draft.kind, draft.urgent, draft.due_at, draft.occasion) == (
        MessageKind.ATTENDANCE_REVIEW, False, NOW, OCCASION)
    assert (draft.recipient.role, draft.recipient.id, draft.recipient.channel) == (
        RecipientRole.CLINICIAN, "site-north", Channel.EMAIL)
    assert (draft.patient_id, draft.site_id) == ("p-1", "site-north")
    assert draft.facts == {"week_starting": "2026-11-23", "hours": "5.5", "minimum_hours": "9"}


def test_a_step_up_tells_the_patient_their_care_continues_not_urgently() -> None:
    stepped = SteppedUp(**WHO, to_level=LevelOfCare.PARTIAL_HOSPITALIZATION,
                        effective_on=date(2026, 12, 2), reason_codes=["rise_above_baseline"])
    [draft] = step_up_notice(stepped, OCCASION)
    assert (draft.kind, draft.urgent) == (MessageKind.STEP_UP_NOTICE, False)
    assert roles([draft]) == [(RecipientRole.PATIENT, Channel.EMAIL)]
    assert draft.facts == {"to_level": "partial_hospitalization", "effective_on": "2026-12-02"}


@pytest.mark.parametrize(("outcome", "expected"), [
    (DischargeOutcome.COMPLETED, [(RecipientRole.PATIENT, Channel.EMAIL),
                                  (RecipientRole.SITE, Channel.WEBHOOK)]),
    (DischargeOutcome.LEFT_AGAINST_ADVICE, [(RecipientRole.SITE, Channel.WEBHOOK)]),
    (DischargeOutcome.TRANSFERRED, [(RecipientRole.SITE, Channel.WEBHOOK)]),
])
def test_a_discharge_goes_to_the_site_and_a_completed_program_to_the_patient(
    outcome: DischargeOutcome, expected: list[tuple[RecipientRole, Channel]],
) -> None:
    drafts = discharge_notice(Discharged(**WHO, outcome=outcome,
                                         effective_on=date(2026, 12, 3)), OCCASION)
    assert roles(drafts) == expected
    assert all(d.kind is MessageKind.DISCHARGE_NOTICE and not d.urgent for d in drafts)
    assert drafts[-1].facts == {"outcome": outcome.value, "effective_on": "2026-12-03"}


def test_family_updates_go_only_to_those_named() -> None:
    batch = Occasion("batch:corr-1", "iopnet.SessionsScheduled", "corr-1", NOW)
    drafts = family_schedule_update(scheduled(session(NOW + DAY)), batch, ["sp-1"],
                                    timedelta(seconds=5))
    assert [(d.recipient.id, d.due_at, d.occasion.cause_id) for d in drafts] == [
        ("sp-1", NOW + timedelta(seconds=5), "batch:corr-1")]
    assert family_schedule_update(scheduled(session(NOW + DAY)), batch, [], timedelta()) == []


def judged(trend: Phq9Trend, response: bool = False) -> ProgressJudged:
    return ProgressJudged(**WHO, measure_id="m-1", measured_on=date(2026, 12, 1),
                          program_week=6, baseline_phq9=18, total=8, trend=trend,
                          response=response, remission=False)


@pytest.mark.parametrize(("trend", "response", "progress"), [
    (Phq9Trend.IMPROVING, True, Progress.MUCH_IMPROVED),
    (Phq9Trend.IMPROVING, False, Progress.IMPROVING),
    (Phq9Trend.STABLE, False, Progress.NOT_YET_IMPROVING),
    (Phq9Trend.WORSENING, False, Progress.NOT_YET_IMPROVING),
])
def test_progress_is_told_from_plans_judgement(trend: Phq9Trend, response: bool,
                                               progress: Progress) -> None:
    assert progress_of(judged(trend, response)) is progress


def test_a_progress_update_carries_a_trend_never_a_score() -> None:
    [draft] = family_progress_update(judged(Phq9Trend.IMPROVING, True), OCCASION, ["sp-1"])
    assert draft.facts == {"progress": "much_improved", "program_week": 6}


def test_step_down_sends_the_aftercare_summary_to_the_patient_and_the_site() -> None:
    stepped = SteppedDown(**WHO, effective_on=date(2027, 2, 1),
                          aftercare=["weekly_therapy"], follow_up_within_days=7)
    drafts = aftercare_summary(stepped, OCCASION)
    assert roles(drafts) == [(RecipientRole.PATIENT, Channel.EMAIL),
                             (RecipientRole.SITE, Channel.WEBHOOK)]
    assert drafts[0].facts["aftercare"] == ["weekly_therapy"]
    [family] = family_progress_update(stepped, OCCASION, ["sp-1"])
    assert family.facts["progress"] == "stepped_down"
