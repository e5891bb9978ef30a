"""Request and response shapes of notifications' routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from iopnet.catalog import Channel, RecipientRole
from iopnet.fields import Strict

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


class ChannelsView(BaseModel):
    site_id: str
    clinician_alert_email: str | None
    webhook_url: str | None
    webhook_secret_set: bool


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
