"""Urgent alerts and how they are coalesced, so a burst of risk becomes one message. Pure.

An urgent alert answers one or more *causes* (a RiskSignalRaised, an urgent
AdmissionDeclined, a SteppedUp, an ExitSummarized of a patient who left against
advice). Causes are coalesced per patient and
recipient (the clinician alert address, the site's webhook), each recipient
on its own:

1. A cause already in an alert to that recipient changes nothing (redelivery).
2. If that recipient's latest alert for the patient is still pending (not yet
   sent, including one waiting to retry), the cause is folded into it. Its due
   time does not move, so a stream of causes cannot hold an alert back.
3. Else, if that alert was sent less than ``window`` ago, the cause opens a
   follow-up ("additional risk signals") due when the window closes
   (sent_at + window); later causes fold into it by rule 2.
4. Else the cause opens a new alert, due after ``gather`` (a few seconds for
   the rest of a burst, e.g. the assessments and the decline of one intake).

So no cause is dropped (every one is in exactly one alert to each recipient)
and a recipient gets at most one alert about a patient per window. Urgent
alerts ignore quiet hours. An alert is headed (its ``type`` and top-level
facts) by its most consequential cause: a decision on the level of care
(declined, stepped up) over a risk signal, the latest among equals; its
``causes`` list every cause in the order they came.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from iopnet.catalog import AdmissionDeclined, ExitSummarized, RiskSignalRaised, SteppedUp
from services.notifications.domain.messages import (
    DeliveryStatus,
    Facts,
    MessageDraft,
    MessageKind,
    Occasion,
    Recipient,
)

#: Causes that decide the patient's level of care (or end it); they head an alert over
#: risk signals.
DECISIONS = frozenset({AdmissionDeclined.event_type, SteppedUp.event_type,
                       ExitSummarized.event_type})


@dataclass(frozen=True)
class UrgentCause:
    """One reason a clinician must look at the patient today: codes, dates and ids only."""

    event_id: str
    type: str
    occurred_at: datetime
    facts: Facts = field(default_factory=dict)

    @property
    def decisive(self) -> bool:
        return self.type in DECISIONS

    def as_fact(self) -> dict[str, Any]:
        return {**self.facts, "type": self.type, "event_id": self.event_id,
                "occurred_at": self.occurred_at.isoformat()}

    @classmethod
    def from_fact(cls, fact: Mapping[str, Any]) -> UrgentCause:
        facts = {k: v for k, v in fact.items() if k not in ("type", "event_id", "occurred_at")}
        return cls(str(fact["event_id"]), str(fact["type"]),
                   datetime.fromisoformat(str(fact["occurred_at"])), facts)


def risk_alert(raised: RiskSignalRaised, occasion: Occasion) -> UrgentCause:
    return _cause(occasion, {"alert_reason": raised.signal.value,
                             "observed_on": raised.observed_on.isoformat(),
                             "clinician_id": raised.clinician_id or ""})


def declined_alert(declined: AdmissionDeclined, occasion: Occasion) -> UrgentCause | None:
    """A declined admission is urgent only when it needs a higher level of care now."""
    if not declined.urgent:
        return None
    return _cause(occasion, {"alert_reason": "admission_declined",
                             "observed_on": occasion.occurred_at.date().isoformat(),
                             "recommended_level": declined.recommended_level.value,
                             "reason_codes": list(declined.reason_codes)})


def stepped_up_alert(stepped_up: SteppedUp, occasion: Occasion) -> UrgentCause:
    """The patient moves to a higher level of care: the team must act on it today."""
    return _cause(occasion, {"alert_reason": "stepped_up",
                             "observed_on": occasion.occurred_at.date().isoformat(),
                             "to_level": stepped_up.to_level.value,
                             "effective_on": stepped_up.effective_on.isoformat(),
                             "reason_codes": list(stepped_up.reason_codes)})


def left_against_advice_alert(summary: ExitSummarized, occasion: Occasion
                              ) -> UrgentCause | None:
    """A patient who left the program against advice lost their care at once: a clinician
    must reach them today (plans marks it ``urgent_alert``). Suicide rates are highest in
    the first months after leaving psychiatric care (Chung et al. 2017, JAMA Psychiatry
    74:694-702), and leaving against advice leaves no planned follow-up."""
    if not summary.urgent_alert:
        return None
    return _cause(occasion, {"alert_reason": "left_against_advice",
                             "observed_on": summary.effective_on.isoformat(),
                             "exit": summary.exit,
                             "risk_signals": list(summary.risk_signals)})


def _cause(occasion: Occasion, facts: Facts) -> UrgentCause:
    return UrgentCause(occasion.cause_id, occasion.cause_type, occasion.occurred_at, facts)


def urgent_recipients(site_id: str) -> tuple[Recipient, Recipient]:
    """An urgent alert goes to the clinician alert address and the site's webhook."""
    return Recipient.clinician(site_id), Recipient.site(site_id)


@dataclass(frozen=True)
class LatestAlert:
    """A recipient's most recent live (pending or sent) urgent alert about the patient."""

    message_id: str
    status: DeliveryStatus
    sent_at: datetime | None
    causes: tuple[UrgentCause, ...]
    follow_up: bool = False


class Placing(StrEnum):
    ALREADY_ALERTED = "already_alerted"
    FOLD = "fold"
    FOLLOW_UP = "follow_up"
    NEW_ALERT = "new_alert"


@dataclass(frozen=True)
class Placement:
    """Where a cause goes: into ``message_id``, or a new message due at ``due_at``."""

    placing: Placing
    message_id: str | None = None
    due_at: datetime | None = None


def place(cause: UrgentCause, latest: LatestAlert | None, *, already_alerted: bool,
          now: datetime, window: timedelta, gather: timedelta) -> Placement:
    """The coalescing rule (see the module's docstring) for one cause and one recipient."""
    if already_alerted or (latest and any(c.event_id == cause.event_id
                                          for c in latest.causes)):
        return Placement(Placing.ALREADY_ALERTED)
    if latest and latest.status is DeliveryStatus.PENDING:
        return Placement(Placing.FOLD, message_id=latest.message_id)
    if (latest and latest.status is DeliveryStatus.SENT and latest.sent_at is not None
            and now < latest.sent_at + window):
        return Placement(Placing.FOLLOW_UP, due_at=latest.sent_at + window)
    return Placement(Placing.NEW_ALERT, due_at=now + gather)


def headline(causes: Sequence[UrgentCause]) -> UrgentCause:
    """The cause an alert is about first: a decision over a signal, the latest among equals."""
    return max(enumerate(causes), key=lambda indexed: (indexed[1].decisive, indexed[0]))[1]


def alert_facts(causes: Sequence[UrgentCause], follow_up: bool) -> dict[str, Any]:
    """What the alert says: its headline's facts, every reason, and every cause in order."""
    return {**headline(causes).facts,
            "alert_reasons": [str(c.facts.get("alert_reason", "")) for c in causes],
            "causes": [c.as_fact() for c in causes],
            "follow_up": follow_up}


def causes_of(facts: Facts) -> tuple[UrgentCause, ...]:
    return tuple(UrgentCause.from_fact(f) for f in facts.get("causes", []))


def urgent_draft(patient_id: str, site_id: str, recipient: Recipient, cause: UrgentCause,
                 occasion: Occasion, placement: Placement) -> MessageDraft:
    """The message a cause opens (a new alert or a follow-up), with that cause alone so far."""
    assert placement.due_at is not None
    follow_up = placement.placing is Placing.FOLLOW_UP
    return MessageDraft(patient_id, site_id, MessageKind.URGENT_ALERT, recipient, occasion,
                        placement.due_at, urgent=True,
                        facts=alert_facts([cause], follow_up))
