"""Recertification reminders: the clinicians hear a week before a physician's certification
of the need for IOP runs out, and again the day after if it has. Pure.

Medicare pays for IOP only while a physician recertifies the need no less frequently than
every other month (42 CFR 424.24(e), as amended for IOP by the CY 2024 OPPS/ASC final rule;
intake publishes the date as ``PatientCertified.recertify_by``, see
services/intake/domain/certification.py). Notifications only reads that date: the rule is
intake's. A newer certification replaces both messages; the end of the IOP episode
(step-down, step-up, discharge) cancels them.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from iopnet.catalog import PatientCertified
from services.notifications.domain.messages import (
    MessageDraft,
    MessageKind,
    Occasion,
    Recipient,
)

#: The reminder goes this long before the certification runs out.
REMINDER_LEAD = timedelta(days=7)
#: Both go at the start of the clinic's day, in the site's time zone.
SEND_AT = time(9, 0)
KINDS = (MessageKind.RECERTIFICATION_DUE, MessageKind.RECERTIFICATION_OVERDUE)


def _morning(day: date, zone: str) -> datetime:
    return datetime.combine(day, SEND_AT, tzinfo=ZoneInfo(zone))


def recertification_reminders(certified: PatientCertified, occasion: Occasion, zone: str
                              ) -> list[MessageDraft]:
    """The reminder (7 days before ``recertify_by``, or at once when that is past) and the
    overdue notice (the day after ``recertify_by``), both to the site's clinicians."""
    facts = {"certification_id": certified.certification_id,
             "certified_by": certified.certified_by,
             "certified_on": certified.certified_on.isoformat(),
             "recertify_by": certified.recertify_by.isoformat()}
    due = {
        MessageKind.RECERTIFICATION_DUE: max(
            _morning(certified.recertify_by - REMINDER_LEAD, zone), occasion.occurred_at),
        MessageKind.RECERTIFICATION_OVERDUE: max(
            _morning(certified.recertify_by + timedelta(days=1), zone), occasion.occurred_at),
    }
    return [MessageDraft(certified.patient_id, certified.site_id, kind,
                         Recipient.clinician(certified.site_id), occasion, due_at, facts=facts)
            for kind, due_at in due.items()]
