"""A message's stream: what each command records, and the state it rebuilds to."""

from datetime import UTC, datetime, timedelta

import pytest

from iopnet.catalog import NotificationSent
from services.notifications.domain import (
    DeliveryStatus,
    MessageDraft,
    MessageKind,
    Occasion,
    Placement,
    Placing,
    Recipient,
    UrgentCause,
    urgent_draft,
)
from services.notifications.domain.events import (
    DeliveryAttempted,
    MessageCancelled,
    MessageQueued,
    Outcome,
    UrgentCauseFolded,
)
from services.notifications.domain.message import Message, message_id_of

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
OCCASION = Occasion("event-1", "iopnet.PatientAdmitted", "corr-1", NOW)


def welcome() -> MessageDraft:
    return MessageDraft("p-1", "site-north", MessageKind.WELCOME, Recipient.patient("p-1"),
                        OCCASION, NOW, facts={"program_id": "iop-adult"})


def rebuilt(message: Message) -> Message:
    """The message as a later command would load it: from its events alone."""
    events = list(message.pending)
    message.mark_saved()
    return Message.rebuild(message.id, events)


def test_a_message_is_identified_by_its_cause_kind_and_recipient() -> None:
    assert message_id_of(welcome()) == message_id_of(welcome())
    other = MessageDraft("p-1", "site-north", MessageKind.WELCOME, Recipient.clinician("s"),
                         OCCASION, NOW)
    assert message_id_of(other) != message_id_of(welcome())


def test_queued_then_failed_then_sent_rebuilds_as_sent_and_publishes_once() -> None:
    message = Message.queue(welcome(), queued_at=NOW, trace_context=None)
    message.fail("NoContactAddress", NOW, retry_at=NOW + timedelta(seconds=30))
    assert (message.status, message.attempts, message.due_at) == (
        DeliveryStatus.PENDING, 1, NOW + timedelta(seconds=30))
    message.sent(NOW + timedelta(minutes=1))
    kinds = [type(e) for e in message.pending]
    assert kinds == [MessageQueued, DeliveryAttempted, DeliveryAttempted, NotificationSent]
    assert [e.published for e in message.pending] == [False, False, False, True]
    again = rebuilt(message)
    assert (again.status, again.attempts, again.sent_at) == (
        DeliveryStatus.SENT, 2, NOW + timedelta(minutes=1))
    assert again.facts == {"program_id": "iop-adult"}


def test_a_last_failure_fails_the_message_and_a_withheld_one_counts_no_attempt() -> None:
    failed = Message.queue(welcome(), queued_at=NOW, trace_context=None)
    failed.fail("WebhookRefused", NOW, retry_at=None)
    assert rebuilt(failed).status is DeliveryStatus.FAILED
    withheld = Message.queue(welcome(), queued_at=NOW, trace_context=None)
    withheld.withhold(NOW)
    [_, attempt] = withheld.pending
    assert isinstance(attempt, DeliveryAttempted)
    assert (attempt.outcome, attempt.attempt) == (Outcome.WITHHELD, 0)
    assert rebuilt(withheld).status is DeliveryStatus.WITHHELD


def test_only_a_pending_message_is_moved_or_cancelled() -> None:
    message = Message.queue(welcome(), queued_at=NOW, trace_context=None)
    message.cancel()
    message.cancel()
    message.reschedule(NOW + timedelta(hours=1))
    assert [type(e) for e in message.pending] == [MessageQueued, MessageCancelled]
    assert rebuilt(message).status is DeliveryStatus.CANCELLED


def test_a_folded_cause_heads_the_alert_when_it_decides_the_level_of_care() -> None:
    risk = UrgentCause("risk-1", "iopnet.RiskSignalRaised", NOW, {"alert_reason": "cssrs_high"})
    declined = UrgentCause("declined-1", "iopnet.AdmissionDeclined", NOW + timedelta(seconds=5),
                           {"alert_reason": "admission_declined"})
    draft = urgent_draft("p-1", "site-north", Recipient.clinician("site-north"), risk,
                         Occasion("risk-1", risk.type, "corr-1", NOW),
                         Placement(Placing.NEW_ALERT, due_at=NOW))
    alert = Message.queue(draft, queued_at=NOW, trace_context=None)
    alert.fold(declined)
    folded = alert.pending[-1]
    assert isinstance(folded, UrgentCauseFolded)
    assert (folded.cause_id, folded.headline_type) == ("declined-1", "iopnet.AdmissionDeclined")
    latest = rebuilt(alert).latest_alert()
    assert [c.event_id for c in latest.causes] == ["risk-1", "declined-1"]
    assert latest.status is DeliveryStatus.PENDING
