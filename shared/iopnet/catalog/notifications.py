"""Events that notifications publishes: what was sent, to whom (by role), how, and the
closed loop of urgent alerts (raised, acknowledged by a clinician, escalated)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from iopnet.catalog.base import PatientEvent


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class RecipientRole(StrEnum):
    PATIENT = "patient"
    SUPPORT_PERSON = "support_person"
    CLINICIAN = "clinician"
    SITE = "site"


class NotificationSent(PatientEvent):
    message_id: str
    kind: str
    channel: Channel
    recipient_role: RecipientRole
    sent_at: datetime


class AlertRaised(PatientEvent):
    """An urgent alert went to the site's clinicians; unacknowledged by ``escalate_at``, it
    escalates to the site's second contact."""

    alert_id: str
    alert_reasons: list[str] = Field(description="Why, by code (e.g. cssrs_high)")
    raised_at: datetime
    escalate_at: datetime


class AlertAcknowledged(PatientEvent):
    """A clinician took the alert in hand (their note, if any, stays in notifications).
    ``after_escalation``: it had been escalated already."""

    alert_id: str
    clinician_id: str
    acknowledged_at: datetime
    after_escalation: bool = False


class AlertEscalated(PatientEvent):
    """No clinician acknowledged the alert in the site's window: its second contact is told."""

    alert_id: str
    raised_at: datetime
    escalated_at: datetime
