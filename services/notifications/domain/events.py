"""Notifications' private facts: kept in its event store, never published.

Contact details and what a message says are sealed with the patient's data
key, so forgetting the patient forgets them, rebuilds included. A site's
channels and templates are the site's, not a patient's: private, not sealed
(the webhook secret never leaves this service).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from iopnet.catalog import Channel, PrivateNetworkEvent, PrivatePatientEvent, RecipientRole
from iopnet.catalog.upcasting import upcaster


class PatientContactSet(PrivatePatientEvent):
    sealed_fields = ("email",)

    email: str | None


class SupportPersonContactSet(PrivatePatientEvent):
    """A support person's address, for the patient they support (sealed with that key)."""

    sealed_fields = ("email",)

    support_person_id: str
    email: str | None


class SiteChannelsSet(PrivateNetworkEvent):
    """Where the site's clinician alerts and webhooks go; replaces what was set.

    A rotated secret stays in use beside the new one until ``previous_secret_until``.
    An urgent alert no clinician acknowledges within ``acknowledge_within_seconds`` (None:
    the default, 30 minutes) escalates to ``escalation_email``."""

    # 2: previous_webhook_secret, previous_secret_until; 3: escalation_email,
    # acknowledge_within_seconds
    schema_version: ClassVar[int] = 3

    clinician_alert_email: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    previous_webhook_secret: str | None = None
    previous_secret_until: datetime | None = None
    escalation_email: str | None = None
    acknowledge_within_seconds: float | None = None


@upcaster(SiteChannelsSet, 1)
def _no_previous_secret(data: dict[str, Any]) -> dict[str, Any]:
    """v1 channels were set before rotation had an overlap: nothing signs beside them."""
    return {**data, "previous_webhook_secret": None, "previous_secret_until": None}


@upcaster(SiteChannelsSet, 2)
def _no_escalation(data: dict[str, Any]) -> dict[str, Any]:
    """v2 channels had no second contact: alerts escalate to nobody, after the default."""
    return {**data, "escalation_email": None, "acknowledge_within_seconds": None}


class SiteTemplateSet(PrivateNetworkEvent):
    kind: str
    #: Not ``subject``: an event's subject is whose event it is (the site).
    subject_line: str
    body: str


class MessageQueued(PrivatePatientEvent):
    """A message is due to someone; what it says (``facts``) is sealed."""

    sealed_fields = ("facts",)

    message_id: str
    kind: str
    channel: Channel
    recipient_role: RecipientRole
    recipient_id: str
    urgent: bool = False
    cause_id: str
    cause_type: str
    correlation_id: str
    occurred_at: datetime
    facts: dict[str, Any] | None
    session_id: str | None = None
    due_at: datetime
    queued_at: datetime
    trace_context: dict[str, str] | None = None


class UrgentCauseFolded(PrivatePatientEvent):
    """One more urgent cause joins a pending alert, now headed by ``headline_type``."""

    sealed_fields = ("facts",)

    message_id: str
    cause_id: str
    cause_type: str
    headline_type: str
    headline_occurred_at: datetime
    facts: dict[str, Any] | None


class MessageRescheduled(PrivatePatientEvent):
    """A pending message is due at another time (quiet hours, an address now known)."""

    message_id: str
    due_at: datetime


class MessageCancelled(PrivatePatientEvent):
    """The reason for a pending message went away (its session was cancelled or moved)."""

    message_id: str


class Outcome(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    #: Consent no longer covered it when it was due: no attempt was made.
    WITHHELD = "withheld"


class DeliveryAttempted(PrivatePatientEvent):
    """One delivery of a message and how it went; ``retry_at`` when a failure goes again."""

    message_id: str
    attempt: int
    outcome: Outcome
    error_class: str | None = None
    at: datetime
    retry_at: datetime | None = None


class AcknowledgementNoted(PrivatePatientEvent):
    """What the clinician wrote when acknowledging an alert: free text, so sealed."""

    sealed_fields = ("note",)

    alert_id: str
    note: str | None
