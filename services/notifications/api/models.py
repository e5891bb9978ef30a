"""Request and response shapes of notifications' routes."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, Field

from iopnet.catalog import Channel, RecipientRole
from iopnet.fields import Identifier, Strict
from services.notifications.domain.alerts import MAX_ACKNOWLEDGE_WITHIN, MIN_ACKNOWLEDGE_WITHIN

# Deliberately plain: one @, no spaces, a dot in the domain. Deliverability is SMTP's to judge.
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
                             examples=["someone@example.org"])]


class PatientContact(Strict):
    email: Email


class SupportPersonContact(Strict):
    patient_id: uuid.UUID
    email: Email


class PatientContactView(BaseModel):
    patient_id: uuid.UUID
    email: str


class SupportPersonContactView(BaseModel):
    support_person_id: uuid.UUID
    patient_id: uuid.UUID
    email: str


class ChannelsRequest(Strict):
    clinician_alert_email: Email | None = None
    webhook_url: str | None = Field(default=None, max_length=2000, examples=[
        "https://ehr.example.org/iopnet/webhook"],
        description="https to a public address (not loopback, private, link-local,"
        " unique-local, carrier-grade NAT or cloud metadata)")
    webhook_secret: str | None = Field(default=None, min_length=16, max_length=200,
                                       description="The HMAC-SHA256 key; never shown again")
    escalation_email: Email | None = Field(
        default=None, description="The second contact an urgent alert goes to when no"
        " clinician acknowledges it in time (e.g. the on-call medical director)")
    acknowledge_within: timedelta | None = Field(
        default=None, ge=MIN_ACKNOWLEDGE_WITHIN, le=MAX_ACKNOWLEDGE_WITHIN,
        examples=["PT30M"], description="How long the clinicians have to acknowledge an"
        " urgent alert before it escalates (ISO 8601 duration); default 30 minutes")


class ChannelsView(BaseModel):
    site_id: str
    clinician_alert_email: str | None
    webhook_url: str | None
    webhook_secret_set: bool
    escalation_email: str | None
    acknowledge_within: timedelta = Field(description="ISO 8601 duration (or seconds)")


class Acknowledgement(Strict):
    clinician_id: Identifier
    note: str | None = Field(default=None, min_length=1, max_length=2000,
                             description="Free text; kept in notifications only, sealed")


class AlertTrailEntry(BaseModel):
    at: datetime
    event: str = Field(description="AlertRaised, AlertEscalated or AlertAcknowledged")
    clinician_id: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class AlertView(BaseModel):
    alert_id: uuid.UUID = Field(description="The id of the clinicians' alert message")
    patient_id: uuid.UUID
    site_id: str
    alert_reasons: list[str]
    status: str = Field(description="open, escalated (still unacknowledged) or acknowledged")
    raised_at: datetime
    escalate_at: datetime
    escalated_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    trail: list[AlertTrailEntry] | None = Field(
        default=None, description="Every step, oldest first (one alert's view only)")


class AlertsView(BaseModel):
    alerts: list[AlertView]


class TemplateRequest(Strict):
    subject: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=10_000)


class TemplateView(BaseModel):
    site_id: str
    kind: str
    subject: str
    body: str
    placeholders: list[str]
    default: bool


class MessageView(BaseModel):
    id: uuid.UUID
    kind: str
    channel: Channel
    recipient_role: RecipientRole
    recipient_id: str
    site_id: str
    urgent: bool
    status: str
    due_at: datetime
    sent_at: datetime | None
    attempts: int
    cause_type: str
    created_at: datetime


class PatientMessagesView(BaseModel):
    patient_id: uuid.UUID
    site_id: str
    messages: list[MessageView]


class DeliveryView(BaseModel):
    attempt: int
    at: datetime
    outcome: str = Field(description="sent, failed or withheld")
    reason: str | None = Field(description=(
        "Why an attempt failed, coarsely: not_configured (no address or webhook yet),"
        " refused (the endpoint answered, but not 2xx) or unreachable (anything else)."))


class DeliveriesView(BaseModel):
    message_id: uuid.UUID
    deliveries: list[DeliveryView]
