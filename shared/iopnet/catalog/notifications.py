"""Events that notifications publishes: what was sent, to whom (by role), how."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

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
