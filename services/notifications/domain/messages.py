"""Which messages an event calls for, to whom, by which channel, and when. Pure; no I/O.

A message is identified by what caused it (an event id, or a batch of events),
its kind and its recipient: a redelivered event finds the message already
there and nothing is queued or sent twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from iopnet.catalog import (
    AttendanceBelowMinimum,
    Channel,
    CssrsDue,
    Discharged,
    DischargeOutcome,
    OutreachNeeded,
    PatientAdmitted,
    Phq9Trend,
    ProgressJudged,
    RecipientRole,
    ScheduleRefused,
    SessionsScheduled,
    SteppedDown,
    SteppedUp,
)

Facts = Mapping[str, Any]


class MessageKind(StrEnum):
    WELCOME = "welcome"
    SESSION_REMINDER = "session_reminder"
    OUTREACH = "outreach"
    CLINICIAN_OUTREACH = "clinician_outreach"
    #: To the site's clinicians: a week's hours fell below the program minimum.
    ATTENDANCE_REVIEW = "attendance_review"
    URGENT_ALERT = "urgent_alert"
    FAMILY_SCHEDULE_UPDATE = "family_schedule_update"
    FAMILY_PROGRESS_UPDATE = "family_progress_update"
    AFTERCARE_SUMMARY = "aftercare_summary"
    #: To the patient: their care continues at a higher level.
    STEP_UP_NOTICE = "step_up_notice"
    #: To the site (every outcome) and the patient (a completed program).
    DISCHARGE_NOTICE = "discharge_notice"
    #: To the site's second contact and its systems: nobody acknowledged an urgent alert.
    ALERT_ESCALATION = "alert_escalation"
    #: To the site's clinicians: the patient's days cannot make an IOP week; nothing was
    #: scheduled.
    SCHEDULE_REFUSED = "schedule_refused"
    #: To the site's clinicians: a C-SSRS is due today (PHQ-9 item 9 above 0).
    CSSRS_DUE = "cssrs_due"
    #: To the site's clinicians: the physician's certification runs out in a week.
    RECERTIFICATION_DUE = "recertification_due"
    #: To the site's clinicians: the certification ran out and was not renewed.
    RECERTIFICATION_OVERDUE = "recertification_overdue"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    #: The reason for it went away (e.g. the session was cancelled).
    CANCELLED = "cancelled"
    #: Consent no longer allowed it when it was due.
    WITHHELD = "withheld"


@dataclass(frozen=True)
class Recipient:
    """Who receives a message, by role; addresses are looked up when it is sent."""

    role: RecipientRole
    id: str
    channel: Channel

    @classmethod
    def patient(cls, patient_id: str) -> Recipient:
        return cls(RecipientRole.PATIENT, patient_id, Channel.EMAIL)

    @classmethod
    def support_person(cls, support_person_id: str) -> Recipient:
        return cls(RecipientRole.SUPPORT_PERSON, support_person_id, Channel.EMAIL)

    @classmethod
    def clinician(cls, site_id: str) -> Recipient:
        """The site's clinician alert address."""
        return cls(RecipientRole.CLINICIAN, site_id, Channel.EMAIL)

    @classmethod
    def site(cls, site_id: str) -> Recipient:
        """The site's own systems (EHR), through its webhook."""
        return cls(RecipientRole.SITE, site_id, Channel.WEBHOOK)


@dataclass(frozen=True)
class Occasion:
    """What a message answers: an event, or a batch of events sharing a correlation id."""

    cause_id: str
    cause_type: str
    correlation_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class MessageDraft:
    patient_id: str
    site_id: str
    kind: MessageKind
    recipient: Recipient
    occasion: Occasion
    due_at: datetime
    urgent: bool = False
    #: Codes and identifiers only: what templates and webhooks may say.
    facts: Facts = field(default_factory=dict)
    session_id: str | None = None


def welcome(admitted: PatientAdmitted, occasion: Occasion) -> list[MessageDraft]:
    """Welcome and the schedule's outline (start, days a week, weeks) to the patient."""
    facts = {
        "program_id": admitted.program_id,
        "start_date": admitted.start_date.isoformat(),
        "days_per_week": admitted.days_per_week,
        "planned_weeks": admitted.planned_weeks,
    }
    return [MessageDraft(admitted.patient_id, admitted.site_id, MessageKind.WELCOME,
                         Recipient.patient(admitted.patient_id), occasion,
                         occasion.occurred_at, facts=facts)]


def session_reminders(scheduled: SessionsScheduled, occasion: Occasion, now: datetime,
                      lead: timedelta) -> list[MessageDraft]:
    """A reminder ``lead`` before each session of the schedule; none for a waitlist place
    or a past session. They share their cause (the schedule) and differ by session."""
    return [
        MessageDraft(scheduled.patient_id, scheduled.site_id, MessageKind.SESSION_REMINDER,
                     Recipient.patient(scheduled.patient_id), occasion,
                     max(session.starts_at - lead, now), facts={
                         "session_id": session.session_id,
                         "starts_at": session.starts_at.isoformat(),
                         "duration_minutes": session.duration_minutes,
                         "session_kind": session.kind.value,
                         "modality": session.modality.value,
                     }, session_id=session.session_id)
        for session in scheduled.sessions if not session.waitlisted and session.starts_at > now
    ]


def outreach(needed: OutreachNeeded, occasion: Occasion) -> list[MessageDraft]:
    """A word to the patient who missed sessions, and a note to the clinical team."""
    facts = {"consecutive_absences": needed.consecutive_absences,
             "last_missed_session_id": needed.last_missed_session_id}
    return [
        MessageDraft(needed.patient_id, needed.site_id, MessageKind.OUTREACH,
                     Recipient.patient(needed.patient_id), occasion, occasion.occurred_at,
                     facts=facts),
        MessageDraft(needed.patient_id, needed.site_id, MessageKind.CLINICIAN_OUTREACH,
                     Recipient.clinician(needed.site_id), occasion, occasion.occurred_at,
                     facts=facts),
    ]


def attendance_review(below: AttendanceBelowMinimum, occasion: Occasion
                      ) -> list[MessageDraft]:
    """A week below the program minimum flags the case for the clinical team's review."""
    facts = {"week_starting": below.week_starting.isoformat(),  # hours read 7.5, not 7.50
             "hours": f"{below.hours:g}", "minimum_hours": f"{below.minimum_hours:g}"}
    return [MessageDraft(below.patient_id, below.site_id, MessageKind.ATTENDANCE_REVIEW,
                         Recipient.clinician(below.site_id), occasion, occasion.occurred_at,
                         facts=facts)]


def schedule_refused_notice(refused: ScheduleRefused, occasion: Occasion
                            ) -> list[MessageDraft]:
    """The program's groups on the patient's days cannot make a week at the level of care
    (42 CFR 410.44, 424.24(d): an IOP is 9 hours at least, under 20), so sessions scheduled
    nothing: a clinician must choose more days or other groups. Not urgent: the patient is
    not at risk from it, so it waits for the end of quiet hours."""
    facts = {"program_id": refused.program_id, "level": refused.level.value,
             "days_per_week": refused.days_per_week,
             "planned_weekly_hours": f"{refused.planned_weekly_hours:g}",
             "minimum_hours": f"{refused.minimum_hours:g}",
             "below_hours": f"{refused.below_hours:g}" if refused.below_hours else ""}
    return [MessageDraft(refused.patient_id, refused.site_id, MessageKind.SCHEDULE_REFUSED,
                         Recipient.clinician(refused.site_id), occasion, occasion.occurred_at,
                         facts=facts)]


def cssrs_due_notice(due: CssrsDue, occasion: Occasion) -> list[MessageDraft]:
    """A C-SSRS to do on ``due_on``: a task for the clinicians, held by quiet hours.

    Not urgent, deliberately: the same positive PHQ-9 item 9 raised a RiskSignalRaised,
    whose urgent alert reaches the clinicians at once, quiet hours or not, and must be
    acknowledged. This notice is the follow-up screen the positive answer calls for (a
    validated tool, the C-SSRS: Posner et al. 2011; the Joint Commission's NPSG.15.01.01
    asks for an evidence-based assessment of whoever screens positive), to be done at the
    next contact in working hours."""
    facts = {"due_on": due.due_on.isoformat(), "phq9_measure_id": due.phq9_measure_id}
    return [MessageDraft(due.patient_id, due.site_id, MessageKind.CSSRS_DUE,
                         Recipient.clinician(due.site_id), occasion, occasion.occurred_at,
                         facts=facts)]


def family_schedule_update(scheduled: SessionsScheduled, batch: Occasion,
                           support_person_ids: Iterable[str], settle: timedelta
                           ) -> list[MessageDraft]:
    """One schedule update per batch of scheduled sessions, once the batch has settled.

    What it says (how many sessions, the next one) is read when it is sent.
    """
    return [
        MessageDraft(scheduled.patient_id, scheduled.site_id, MessageKind.FAMILY_SCHEDULE_UPDATE,
                     Recipient.support_person(person), batch, batch.occurred_at + settle)
        for person in support_person_ids
    ]


class Progress(StrEnum):
    """How the patient is doing, in words a family can be told: a trend, never a score."""

    MUCH_IMPROVED = "much_improved"
    IMPROVING = "improving"
    NOT_YET_IMPROVING = "not_yet_improving"
    STEPPED_DOWN = "stepped_down"


def progress_of(judged: ProgressJudged) -> Progress:
    """Plans' judgement (the one definition of improving, ``ProgressJudged``) in family's
    words: a response is "much improved"; stable and worsening are both "not yet
    improving" (what to say of a worse week is the clinicians', not an email's)."""
    if judged.response:
        return Progress.MUCH_IMPROVED
    if judged.trend is Phq9Trend.IMPROVING:
        return Progress.IMPROVING
    return Progress.NOT_YET_IMPROVING


def family_progress_update(event: ProgressJudged | SteppedDown, occasion: Occasion,
                           support_person_ids: Iterable[str]) -> list[MessageDraft]:
    """A progress summary (a trend, never a score) to those the patient allows."""
    if isinstance(event, SteppedDown):
        facts: dict[str, Any] = {"progress": Progress.STEPPED_DOWN.value,
                                 "to_level": event.to_level.value}
    else:
        facts = {"progress": progress_of(event).value, "program_week": event.program_week}
    return [
        MessageDraft(event.patient_id, event.site_id, MessageKind.FAMILY_PROGRESS_UPDATE,
                     Recipient.support_person(person), occasion, occasion.occurred_at,
                     facts=facts)
        for person in support_person_ids
    ]


def aftercare_summary(stepped_down: SteppedDown, occasion: Occasion) -> list[MessageDraft]:
    facts = {
        "to_level": stepped_down.to_level.value,
        "effective_on": stepped_down.effective_on.isoformat(),
        "aftercare": list(stepped_down.aftercare),
        "follow_up_within_days": stepped_down.follow_up_within_days,
    }
    patient_id, site_id = stepped_down.patient_id, stepped_down.site_id
    return [
        MessageDraft(patient_id, site_id, MessageKind.AFTERCARE_SUMMARY, recipient, occasion,
                     occasion.occurred_at, facts=facts)
        for recipient in (Recipient.patient(patient_id), Recipient.site(site_id))
    ]


def step_up_notice(stepped_up: SteppedUp, occasion: Occasion) -> list[MessageDraft]:
    """To the patient, not urgent: their care continues at a higher level."""
    facts = {"to_level": stepped_up.to_level.value,
             "effective_on": stepped_up.effective_on.isoformat()}
    return [MessageDraft(stepped_up.patient_id, stepped_up.site_id, MessageKind.STEP_UP_NOTICE,
                         Recipient.patient(stepped_up.patient_id), occasion,
                         occasion.occurred_at, facts=facts)]


def discharge_notice(discharged: Discharged, occasion: Occasion) -> list[MessageDraft]:
    """The outcome to the site's systems; a word to the patient who completed the program."""
    facts = {"outcome": discharged.outcome.value,
             "effective_on": discharged.effective_on.isoformat()}
    patient_id, site_id = discharged.patient_id, discharged.site_id
    recipients = [Recipient.site(site_id)]
    if discharged.outcome is DischargeOutcome.COMPLETED:
        recipients.insert(0, Recipient.patient(patient_id))
    return [MessageDraft(patient_id, site_id, MessageKind.DISCHARGE_NOTICE, recipient, occasion,
                         occasion.occurred_at, facts=facts)
            for recipient in recipients]
