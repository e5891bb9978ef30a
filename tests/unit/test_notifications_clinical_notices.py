"""Clinical notices to the site's clinicians: a refused schedule, a C-SSRS due today, and
recertification reminders."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from iopnet.catalog import (
    Channel,
    CssrsDue,
    LevelOfCare,
    PatientCertified,
    RecipientRole,
    ScheduleRefused,
)
from services.notifications.domain import (
    DEFAULT_TEMPLATES,
    MessageKind,
    Occasion,
    cssrs_due_notice,
    observes_quiet_hours,
    recertification_reminders,
    render,
    render_context,
    schedule_refused_notice,
)
from services.notifications.domain.message import message_id_of

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
PATIENT = "0b6f8c1e-6a8e-4a34-9a37-6f0b2c1d3e4f"


def occasion(event_type: str) -> Occasion:
    return Occasion("event-1", event_type, "corr-1", NOW)


REFUSED = ScheduleRefused(patient_id=PATIENT, site_id="site-north", program_id="iop-adult",
                          level=LevelOfCare.IOP, days_per_week=3, planned_weekly_hours=4.0,
                          minimum_hours=9.0, below_hours=20.0)
DUE = CssrsDue(patient_id=PATIENT, site_id="site-north", due_on=date(2026, 12, 1),
               phq9_measure_id="measure-1")


def test_a_refused_schedule_is_one_notice_to_the_clinicians_held_by_quiet_hours() -> None:
    [draft] = schedule_refused_notice(REFUSED, occasion(ScheduleRefused.event_type))
    assert (draft.kind, draft.recipient.role, draft.recipient.channel) == (
        MessageKind.SCHEDULE_REFUSED, RecipientRole.CLINICIAN, Channel.EMAIL)
    assert not draft.urgent and observes_quiet_hours(draft.urgent, draft.recipient.channel)
    assert draft.due_at == NOW
    assert draft.facts == {"program_id": "iop-adult", "level": "iop", "days_per_week": 3,
                           "planned_weekly_hours": "4", "minimum_hours": "9",
                           "below_hours": "20"}
    email = render(DEFAULT_TEMPLATES[MessageKind.SCHEDULE_REFUSED], render_context(
        MessageKind.SCHEDULE_REFUSED, draft.facts, patient_id=PATIENT, site_name="North",
        zone="UTC"))
    assert email.subject == f"Schedule refused: patient {PATIENT}"
    assert "come to 4 hours, and iop needs at least 9 hours a week" in email.body


def test_a_cssrs_due_is_one_notice_per_event_and_not_urgent() -> None:
    drafts = cssrs_due_notice(DUE, occasion(CssrsDue.event_type))
    [draft] = drafts
    assert (draft.kind, draft.recipient.role, draft.urgent) == (
        MessageKind.CSSRS_DUE, RecipientRole.CLINICIAN, False)
    assert draft.facts == {"due_on": "2026-12-01", "phq9_measure_id": "measure-1"}
    # A redelivered event drafts the same message: its id finds the first.
    [again] = cssrs_due_notice(DUE, occasion(CssrsDue.event_type))
    assert message_id_of(again) == message_id_of(draft)
    email = render(DEFAULT_TEMPLATES[MessageKind.CSSRS_DUE], render_context(
        MessageKind.CSSRS_DUE, draft.facts, patient_id=PATIENT, site_name="North",
        zone="UTC"))
    assert email.subject == f"C-SSRS due on 2026-12-01: patient {PATIENT}"


CERTIFIED = PatientCertified(patient_id=PATIENT, site_id="site-north", certification_id="cert-1",
                             certified_by="dr-rao", certified_on=date(2026, 12, 1),
                             diagnosis_codes=["F33.1"], recertify_by=date(2027, 2, 1))


def test_recertification_is_reminded_a_week_before_and_flagged_the_day_after() -> None:
    drafts = recertification_reminders(CERTIFIED, occasion(PatientCertified.event_type),
                                       "America/Chicago")
    assert [(d.kind, d.recipient.role, d.urgent) for d in drafts] == [
        (MessageKind.RECERTIFICATION_DUE, RecipientRole.CLINICIAN, False),
        (MessageKind.RECERTIFICATION_OVERDUE, RecipientRole.CLINICIAN, False)]
    chicago = ZoneInfo("America/Chicago")
    assert [d.due_at for d in drafts] == [datetime(2027, 1, 25, 9, 0, tzinfo=chicago),
                                          datetime(2027, 2, 2, 9, 0, tzinfo=chicago)]
    assert drafts[0].facts == {"certification_id": "cert-1", "certified_by": "dr-rao",
                               "certified_on": "2026-12-01", "recertify_by": "2027-02-01"}
    email = render(DEFAULT_TEMPLATES[MessageKind.RECERTIFICATION_OVERDUE], render_context(
        MessageKind.RECERTIFICATION_OVERDUE, drafts[1].facts, patient_id=PATIENT,
        site_name="North", zone="UTC"))
    assert email.subject == f"Recertification overdue: patient {PATIENT}"
    assert "renewal by 2027-02-01" in email.body


def test_a_certification_learned_of_late_is_reminded_at_once() -> None:
    late = Occasion("event-2", PatientCertified.event_type, "corr-2",
                    datetime(2027, 1, 30, 12, 0, tzinfo=UTC))
    due, overdue = recertification_reminders(CERTIFIED, late, "UTC")
    assert due.due_at == late.occurred_at
    assert overdue.due_at == datetime(2027, 2, 2, 9, 0, tzinfo=UTC)
