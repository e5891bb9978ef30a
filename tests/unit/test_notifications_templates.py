"""Per-site email templates: ${placeholders}, checked when saved, filled when sent."""

from datetime import UTC, datetime

import pytest

from services.notifications.domain import (
    DEFAULT_TEMPLATES,
    EMAIL_KINDS,
    PLACEHOLDERS,
    MessageKind,
    Template,
    render,
    render_context,
    schedule_outline,
    template_problems,
)

pytestmark = pytest.mark.unit


def context(kind: MessageKind, facts: dict[str, object], **extra: str) -> dict[str, str]:
    return render_context(kind, facts, patient_id="p-1", site_name="North Clinic",
                          zone="America/Chicago", extra=extra)


def test_every_default_template_is_valid_for_its_kind() -> None:
    assert set(MessageKind) == EMAIL_KINDS
    for kind, template in DEFAULT_TEMPLATES.items():
        assert template_problems(kind, template) == {}, kind


def test_the_welcome_email_tells_the_schedule_outline() -> None:
    email = render(DEFAULT_TEMPLATES[MessageKind.WELCOME], context(MessageKind.WELCOME, {
        "program_id": "iop-adult", "start_date": "2026-12-01", "days_per_week": 4,
        "planned_weeks": 10}))
    assert email.subject == "Welcome to North Clinic"
    assert email.body.startswith("Dear patient,")
    assert "starts on 2026-12-01: 4 days a week for 10 weeks" in email.body


def test_a_reminder_gives_the_session_time_in_the_site_zone() -> None:
    facts = {"starts_at": "2026-12-01T15:00:00+00:00", "duration_minutes": 180,
             "session_kind": "group", "modality": "group_therapy"}
    email = render(DEFAULT_TEMPLATES[MessageKind.SESSION_REMINDER],
                   context(MessageKind.SESSION_REMINDER, facts))
    assert "on 2026-12-01 at 09:00 (180 minutes)" in email.body


def test_an_attendance_review_names_the_week_its_hours_and_the_minimum() -> None:
    facts = {"week_starting": "2026-11-23", "hours": "5.5", "minimum_hours": "9"}
    email = render(DEFAULT_TEMPLATES[MessageKind.ATTENDANCE_REVIEW],
                   context(MessageKind.ATTENDANCE_REVIEW, facts))
    assert email.subject == "Attendance review: patient p-1"
    assert ("the week starting 2026-11-23 had 5.5 hours of attendance against the program "
            "minimum of 9. The case is flagged for review.") in email.body


def test_a_site_may_word_its_own_attendance_review() -> None:
    template = Template("Review ${patient_id}", "${hours}/${minimum_hours} h, ${week_starting}")
    assert template_problems(MessageKind.ATTENDANCE_REVIEW, template) == {}
    assert "session_date" in template_problems(
        MessageKind.ATTENDANCE_REVIEW, Template("x", "${session_date}"))["body"]
    email = render(template, context(MessageKind.ATTENDANCE_REVIEW, {
        "week_starting": "2026-11-23", "hours": "5.5", "minimum_hours": "9"}))
    assert email == type(email)("Review p-1", "5.5/9 h, 2026-11-23")


def test_a_sites_own_template_is_filled_and_codes_read_as_words() -> None:
    template = Template("Update: ${progress}", "Week ${program_week}: ${progress}. $$0 cost.")
    assert template_problems(MessageKind.FAMILY_PROGRESS_UPDATE, template) == {}
    email = render(template, context(MessageKind.FAMILY_PROGRESS_UPDATE,
                                     {"progress": "much_improved", "program_week": 6}))
    assert email == type(email)("Update: much improved", "Week 6: much improved. $0 cost.")


def test_lists_are_joined_and_missing_facts_are_empty() -> None:
    ctx = context(MessageKind.AFTERCARE_SUMMARY, {"aftercare": ["weekly_therapy",
                                                                "relapse_plan"]})
    assert ctx["aftercare"] == "weekly therapy, relapse plan"
    assert ctx["effective_on"] == ""
    assert set(ctx) == PLACEHOLDERS[MessageKind.AFTERCARE_SUMMARY]


def test_unknown_placeholders_and_bad_syntax_are_refused_with_the_field() -> None:
    problems = template_problems(MessageKind.WELCOME,
                                 Template("Hi ${given_name}", "Cost: $ 5"))
    assert set(problems) == {"subject", "body"}
    assert "given_name" in problems["subject"]


def test_no_template_can_ask_for_a_name() -> None:
    assert not any("name" in p and p != "site_name" for ps in PLACEHOLDERS.values() for p in ps)


def test_the_schedule_outline_counts_sessions_still_ahead() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    starts = [datetime(2026, 12, d, 15, 0, tzinfo=UTC) for d in (3, 1, 2)]
    starts.append(datetime(2026, 11, 30, 15, 0, tzinfo=UTC))
    assert schedule_outline(starts, "America/Chicago", now) == {
        "upcoming_sessions": "3", "next_session_date": "2026-12-01",
        "next_session_time": "09:00"}
    assert schedule_outline([], "UTC", now)["upcoming_sessions"] == "0"
