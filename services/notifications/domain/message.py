"""A message's life, as its own stream tells it: queued, folded, moved, attempted, sent."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from iopnet.aggregate import Aggregate
from iopnet.catalog import Channel, DomainEvent, NotificationSent, RecipientRole
from services.notifications.domain.events import (
    DeliveryAttempted,
    MessageCancelled,
    MessageQueued,
    MessageRescheduled,
    Outcome,
    UrgentCauseFolded,
)
from services.notifications.domain.messages import DeliveryStatus, MessageDraft, MessageKind
from services.notifications.domain.urgent_alerts import (
    LatestAlert,
    UrgentCause,
    alert_facts,
    causes_of,
    headline,
)

#: Message ids are derived from what identifies a message, so queuing twice finds the first.
_IDS = uuid.UUID("6f1c2a5e-4b1d-4f53-9a49-0c2b1e7d8a10")

_STATUS_AFTER: dict[Outcome, DeliveryStatus] = {
    Outcome.SENT: DeliveryStatus.SENT,
    Outcome.FAILED: DeliveryStatus.FAILED,
    Outcome.WITHHELD: DeliveryStatus.WITHHELD,
}


def message_id_of(draft: MessageDraft) -> str:
    """One message per cause, kind and recipient, and per session for a message about one:
    a schedule's reminders share their cause (the ``SessionsScheduled``)."""
    key = "/".join((draft.occasion.cause_id, draft.kind.value, draft.recipient.role.value,
                    draft.recipient.id, *([draft.session_id] if draft.session_id else [])))
    return str(uuid.uuid5(_IDS, key))


class Message(Aggregate):
    stream_prefix = "notification"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.patient_id = ""
        self.site_id = ""
        self.kind = MessageKind.WELCOME
        self.channel = Channel.EMAIL
        self.recipient_role = RecipientRole.PATIENT
        self.recipient_id = ""
        self.urgent = False
        self.cause_id = ""
        self.cause_type = ""
        self.correlation_id = ""
        self.occurred_at: datetime | None = None
        #: None once the patient is forgotten.
        self.facts: dict[str, Any] | None = None
        self.trace_context: dict[str, str] | None = None
        self.status = DeliveryStatus.PENDING
        self.due_at: datetime | None = None
        self.attempts = 0
        self.sent_at: datetime | None = None

    @classmethod
    def queue(cls, draft: MessageDraft, *, queued_at: datetime,
              trace_context: dict[str, str] | None) -> Message:
        message = cls(message_id_of(draft))
        message.record(MessageQueued(
            patient_id=draft.patient_id, site_id=draft.site_id, message_id=message.id,
            kind=draft.kind.value, channel=draft.recipient.channel,
            recipient_role=draft.recipient.role, recipient_id=draft.recipient.id,
            urgent=draft.urgent, cause_id=draft.occasion.cause_id,
            cause_type=draft.occasion.cause_type, correlation_id=draft.occasion.correlation_id,
            occurred_at=draft.occasion.occurred_at, facts=dict(draft.facts),
            session_id=draft.session_id, due_at=draft.due_at, queued_at=queued_at,
            trace_context=trace_context))
        return message

    @property
    def is_pending(self) -> bool:
        return self.status is DeliveryStatus.PENDING

    def latest_alert(self) -> LatestAlert:
        facts = self.facts or {}
        return LatestAlert(self.id, self.status, self.sent_at, causes_of(facts),
                           bool(facts.get("follow_up")))

    def fold(self, cause: UrgentCause) -> None:
        """The pending alert answers one more cause (domain/urgent_alerts.py, rule 2)."""
        latest = self.latest_alert()
        causes = [*latest.causes, cause]
        first = headline(causes)
        self.record(UrgentCauseFolded(
            patient_id=self.patient_id, site_id=self.site_id, message_id=self.id,
            cause_id=cause.event_id, cause_type=cause.type, headline_type=first.type,
            headline_occurred_at=first.occurred_at,
            facts=alert_facts(causes, latest.follow_up)))

    def reschedule(self, due_at: datetime) -> None:
        if self.is_pending:
            self.record(MessageRescheduled(patient_id=self.patient_id, site_id=self.site_id,
                                           message_id=self.id, due_at=due_at))

    def cancel(self) -> None:
        if self.is_pending:
            self.record(MessageCancelled(patient_id=self.patient_id, site_id=self.site_id,
                                         message_id=self.id))

    def withhold(self, at: datetime) -> None:
        """Consent no longer covers it: never sent, and no attempt was made."""
        self._attempted(Outcome.WITHHELD, self.attempts, at)

    def fail(self, error_class: str, at: datetime, retry_at: datetime | None) -> None:
        self._attempted(Outcome.FAILED, self.attempts + 1, at, error_class, retry_at)

    def sent(self, at: datetime) -> None:
        self._attempted(Outcome.SENT, self.attempts + 1, at)
        self.record(NotificationSent(
            patient_id=self.patient_id, site_id=self.site_id, message_id=self.id,
            kind=self.kind.value, channel=self.channel, recipient_role=self.recipient_role,
            sent_at=at))

    def _attempted(self, outcome: Outcome, attempt: int, at: datetime,
                   error_class: str | None = None, retry_at: datetime | None = None) -> None:
        self.record(DeliveryAttempted(
            patient_id=self.patient_id, site_id=self.site_id, message_id=self.id,
            attempt=attempt, outcome=outcome, error_class=error_class, at=at,
            retry_at=retry_at))

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, MessageQueued):
            self._queued(event)
        elif isinstance(event, UrgentCauseFolded):
            self.facts = event.facts
            self.cause_type = event.headline_type
            self.occurred_at = event.headline_occurred_at
        elif isinstance(event, MessageRescheduled):
            self.due_at = event.due_at
        elif isinstance(event, MessageCancelled):
            self.status = DeliveryStatus.CANCELLED
        elif isinstance(event, DeliveryAttempted):
            self._delivery_attempted(event)

    def _queued(self, event: MessageQueued) -> None:
        self.patient_id, self.site_id = event.patient_id, event.site_id
        self.kind, self.channel = MessageKind(event.kind), event.channel
        self.recipient_role, self.recipient_id = event.recipient_role, event.recipient_id
        self.urgent, self.cause_id, self.cause_type = event.urgent, event.cause_id, event.cause_type
        self.correlation_id, self.occurred_at = event.correlation_id, event.occurred_at
        self.facts, self.trace_context = event.facts, event.trace_context
        self.due_at = event.due_at

    def _delivery_attempted(self, event: DeliveryAttempted) -> None:
        self.attempts = event.attempt
        if event.outcome is Outcome.FAILED and event.retry_at is not None:
            self.status, self.due_at = DeliveryStatus.PENDING, event.retry_at
        else:
            self.status = _STATUS_AFTER[event.outcome]
        if event.outcome is Outcome.SENT:
            self.sent_at = event.at
