"""Closed-loop urgent alerts: raised, acknowledged by a clinician, or escalated. Pure.

Every urgent alert to the site's clinicians (its clinician alert address) is
an ``Alert`` of its own, identified by that message's id. A clinician
acknowledges it through the API; one not acknowledged ``acknowledge_within``
after it was due (the site's setting, default 30 minutes) escalates once to
the site's second contact (its escalation address) and its systems (webhook).

- Acknowledging twice changes nothing: the first acknowledgement stands.
- An acknowledgement after the escalation is recorded all the same (and says so).
- An acknowledged alert never escalates.

The Joint Commission's NPSG 15.01.01 asks for written procedures for the
immediate safety of a patient at risk of suicide and for monitoring them; an
alert nobody confirmed having read is no such procedure, hence the loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from iopnet.aggregate import Aggregate
from iopnet.catalog import AlertAcknowledged, AlertEscalated, AlertRaised, DomainEvent
from services.notifications.domain.channels import DEFAULT_ACKNOWLEDGE_WITHIN
from services.notifications.domain.events import AcknowledgementNoted
from services.notifications.domain.messages import (
    MessageDraft,
    MessageKind,
    Occasion,
    Recipient,
)

#: The bounds of a site's window: long enough to read an email, short enough to matter.
MIN_ACKNOWLEDGE_WITHIN = timedelta(seconds=1)
MAX_ACKNOWLEDGE_WITHIN = timedelta(hours=24)
__all__ = ["DEFAULT_ACKNOWLEDGE_WITHIN", "Alert", "AlertStatus", "escalation_drafts"]


class AlertStatus(StrEnum):
    OPEN = "open"
    #: Nobody acknowledged it in time: the second contact was told; it is still open.
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"


class Alert(Aggregate):
    stream_prefix = "alert"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.patient_id = ""
        self.site_id = ""
        self.alert_reasons: list[str] = []
        self.raised_at: datetime | None = None
        self.escalate_at: datetime | None = None
        self.escalated_at: datetime | None = None
        self.acknowledged_at: datetime | None = None
        self.acknowledged_by: str | None = None

    @classmethod
    def raise_(cls, alert_id: str, patient_id: str, site_id: str, reasons: Sequence[str],
               due_at: datetime, acknowledge_within: timedelta) -> Alert:
        """The clock runs from when the alert is due to go, not from when it was queued."""
        alert = cls(alert_id)
        alert.record(AlertRaised(patient_id=patient_id, site_id=site_id, alert_id=alert_id,
                                 alert_reasons=list(reasons), raised_at=due_at,
                                 escalate_at=due_at + acknowledge_within))
        return alert

    @property
    def status(self) -> AlertStatus:
        if self.acknowledged_at is not None:
            return AlertStatus.ACKNOWLEDGED
        return AlertStatus.ESCALATED if self.escalated_at is not None else AlertStatus.OPEN

    def acknowledge(self, clinician_id: str, note: str | None, at: datetime) -> bool:
        """Record the acknowledgement; False (nothing recorded) when one was already."""
        if self.acknowledged_at is not None:
            return False
        self.record(AlertAcknowledged(
            patient_id=self.patient_id, site_id=self.site_id, alert_id=self.id,
            clinician_id=clinician_id, acknowledged_at=at,
            after_escalation=self.escalated_at is not None))
        if note:
            self.record(AcknowledgementNoted(patient_id=self.patient_id, site_id=self.site_id,
                                             alert_id=self.id, note=note))
        return True

    def is_due_for_escalation(self, now: datetime) -> bool:
        return (self.status is AlertStatus.OPEN and self.escalate_at is not None
                and now >= self.escalate_at)

    def escalate(self, at: datetime) -> bool:
        """Escalate once, when due and still unacknowledged; False when it is not."""
        if not self.is_due_for_escalation(at):
            return False
        assert self.raised_at is not None
        self.record(AlertEscalated(patient_id=self.patient_id, site_id=self.site_id,
                                   alert_id=self.id, raised_at=self.raised_at,
                                   escalated_at=at))
        return True

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, AlertRaised):
            self.patient_id, self.site_id = event.patient_id, event.site_id
            self.alert_reasons = list(event.alert_reasons)
            self.raised_at, self.escalate_at = event.raised_at, event.escalate_at
        elif isinstance(event, AlertEscalated):
            self.escalated_at = event.escalated_at
        elif isinstance(event, AlertAcknowledged):
            self.acknowledged_at = event.acknowledged_at
            self.acknowledged_by = event.clinician_id


def escalation_drafts(alert: Alert, occasion: Occasion) -> list[MessageDraft]:
    """The escalation: to the site's second contact (by email; the address is the site's
    escalation address) and to its systems (webhook). Urgent: quiet hours do not hold it."""
    assert alert.raised_at is not None
    facts = {"alert_id": alert.id, "alert_reasons": list(alert.alert_reasons),
             "raised_at": alert.raised_at.isoformat(),
             "escalated_at": occasion.occurred_at.isoformat()}
    return [MessageDraft(alert.patient_id, alert.site_id, MessageKind.ALERT_ESCALATION,
                         recipient, occasion, occasion.occurred_at, urgent=True, facts=facts)
            for recipient in (Recipient.clinician(alert.site_id), Recipient.site(alert.site_id))]


