"""Closed-loop urgent alerts: acknowledged once, escalated once, never after an ack."""

from datetime import UTC, date, datetime, timedelta

import pytest

from iopnet.catalog import (
    AlertAcknowledged,
    AlertEscalated,
    AlertRaised,
    Channel,
    ExitSummarized,
    RecipientRole,
)
from services.notifications.domain import MessageKind, Occasion, left_against_advice_alert
from services.notifications.domain.alerts import (
    DEFAULT_ACKNOWLEDGE_WITHIN,
    Alert,
    AlertStatus,
    escalation_drafts,
)
from services.notifications.domain.channels import SiteChannels
from services.notifications.domain.events import AcknowledgementNoted

pytestmark = pytest.mark.unit

DUE = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=30)
PATIENT = "0b6f8c1e-6a8e-4a34-9a37-6f0b2c1d3e4f"


def raised() -> Alert:
    alert = Alert.raise_("alert-1", PATIENT, "site-north", ["cssrs_high"], DUE, WINDOW)
    alert.mark_saved()
    return alert


def test_an_alert_is_due_to_escalate_its_window_after_it_was_due_to_go() -> None:
    alert = raised()
    assert alert.status is AlertStatus.OPEN
    assert alert.escalate_at == DUE + WINDOW
    assert not alert.is_due_for_escalation(DUE + WINDOW - timedelta(seconds=1))
    assert alert.is_due_for_escalation(DUE + WINDOW)


def test_an_unacknowledged_alert_escalates_once_and_only_when_due() -> None:
    alert = raised()
    assert not alert.escalate(DUE + WINDOW - timedelta(seconds=1))
    assert alert.pending == []
    assert alert.escalate(DUE + WINDOW)
    [escalated] = alert.pending
    assert isinstance(escalated, AlertEscalated)
    assert (escalated.raised_at, escalated.escalated_at) == (DUE, DUE + WINDOW)
    assert alert.status is AlertStatus.ESCALATED
    assert not alert.escalate(DUE + 2 * WINDOW)
    assert len(alert.pending) == 1


def test_an_acknowledged_alert_never_escalates() -> None:
    alert = raised()
    assert alert.acknowledge("clin-7", None, DUE + timedelta(minutes=5))
    assert not alert.escalate(DUE + WINDOW)
    assert alert.status is AlertStatus.ACKNOWLEDGED
    [acknowledged] = alert.pending
    assert isinstance(acknowledged, AlertAcknowledged)
    assert (acknowledged.clinician_id, acknowledged.after_escalation) == ("clin-7", False)


def test_acknowledging_twice_keeps_the_first_acknowledgement() -> None:
    alert = raised()
    assert alert.acknowledge("clin-7", "called the patient", DUE)
    assert not alert.acknowledge("clin-9", "me too", DUE + timedelta(minutes=1))
    assert alert.acknowledged_by == "clin-7"
    assert [type(e) for e in alert.pending] == [AlertAcknowledged, AcknowledgementNoted]
    note = alert.pending[1]
    assert isinstance(note, AcknowledgementNoted)
    assert note.note == "called the patient" and "note" in note.sealed_fields


def test_an_acknowledgement_after_the_escalation_is_recorded_and_says_so() -> None:
    alert = raised()
    alert.escalate(DUE + WINDOW)
    assert alert.acknowledge("clin-7", None, DUE + WINDOW + timedelta(minutes=2))
    acknowledged = alert.pending[-1]
    assert isinstance(acknowledged, AlertAcknowledged) and acknowledged.after_escalation
    assert alert.status is AlertStatus.ACKNOWLEDGED


def test_an_alert_rebuilt_from_its_stream_is_the_same_alert() -> None:
    alert = raised()
    alert.escalate(DUE + WINDOW)
    alert.acknowledge("clin-7", None, DUE + WINDOW)
    history = [AlertRaised(patient_id=PATIENT, site_id="site-north", alert_id="alert-1",
                           alert_reasons=["cssrs_high"], raised_at=DUE,
                           escalate_at=DUE + WINDOW), *alert.pending]
    again = Alert.rebuild("alert-1", history)
    assert (again.status, again.acknowledged_by, again.escalated_at) == (
        AlertStatus.ACKNOWLEDGED, "clin-7", DUE + WINDOW)


def test_the_escalation_goes_urgently_to_the_second_contact_and_the_sites_systems() -> None:
    alert = raised()
    at = DUE + WINDOW
    alert.escalate(at)
    occasion = Occasion("alert-1", AlertEscalated.event_type, "corr-1", at)
    drafts = escalation_drafts(alert, occasion)
    assert [(d.recipient.role, d.recipient.channel) for d in drafts] == [
        (RecipientRole.CLINICIAN, Channel.EMAIL), (RecipientRole.SITE, Channel.WEBHOOK)]
    assert all(d.kind is MessageKind.ALERT_ESCALATION and d.urgent and d.due_at == at
               for d in drafts)
    assert drafts[0].facts == {"alert_id": "alert-1", "alert_reasons": ["cssrs_high"],
                               "raised_at": DUE.isoformat(), "escalated_at": at.isoformat()}


def test_a_site_without_a_window_of_its_own_has_thirty_minutes() -> None:
    assert timedelta(minutes=30) == DEFAULT_ACKNOWLEDGE_WITHIN
    assert SiteChannels("site-north").acknowledgement_window == DEFAULT_ACKNOWLEDGE_WITHIN
    own = SiteChannels("site-north", acknowledge_within=timedelta(minutes=10))
    assert own.acknowledgement_window == timedelta(minutes=10)


def _exit(urgent_alert: bool) -> ExitSummarized:
    return ExitSummarized(
        patient_id=PATIENT, site_id="site-north", exit="discharged",
        effective_on=date(2026, 12, 1), baseline_phq9=18, first_phq9=18, last_phq9=15,
        response=False, remission=False, sessions_attended=6, sessions_scheduled=20,
        risk_signals=["phq9_item9"], safety_plan="recorded", urgent_alert=urgent_alert)


def test_leaving_against_advice_is_an_urgent_cause_and_other_exits_are_not() -> None:
    occasion = Occasion("exit-1", ExitSummarized.event_type, "corr-1", DUE)
    cause = left_against_advice_alert(_exit(True), occasion)
    assert cause is not None and cause.decisive
    assert cause.facts == {"alert_reason": "left_against_advice", "observed_on": "2026-12-01",
                           "exit": "discharged", "risk_signals": ["phq9_item9"]}
    assert left_against_advice_alert(_exit(False), occasion) is None
