"""Urgent alerts: what each cause says, and the coalescing rule at its boundaries."""

from datetime import UTC, date, datetime, timedelta

import pytest

from iopnet.catalog import (
    AdmissionDeclined,
    Channel,
    LevelOfCare,
    RecipientRole,
    RiskSignal,
    RiskSignalRaised,
    SteppedUp,
)
from services.notifications.domain import (
    DeliveryStatus,
    LatestAlert,
    MessageKind,
    Occasion,
    Placement,
    Placing,
    UrgentCause,
    alert_facts,
    causes_of,
    declined_alert,
    headline,
    place,
    render_context,
    risk_alert,
    stepped_up_alert,
    urgent_draft,
    urgent_recipients,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=300)
GATHER = timedelta(seconds=10)
WHO = {"patient_id": "p-1", "site_id": "site-north"}


def occasion(event_id: str, event_type: str, at: datetime = NOW) -> Occasion:
    return Occasion(event_id, event_type, "corr-1", at)


def signal(event_id: str, kind: RiskSignal = RiskSignal.PHQ9_ITEM9,
           at: datetime = NOW) -> UrgentCause:
    raised = RiskSignalRaised(**WHO, signal=kind, observed_on=at.date())
    return risk_alert(raised, occasion(event_id, raised.event_type, at))


def declined(event_id: str = "e-declined") -> UrgentCause:
    event = AdmissionDeclined(**WHO, recommended_level=LevelOfCare.INPATIENT,
                              reason_codes=["cssrs_high"], urgent=True)
    cause = declined_alert(event, occasion(event_id, event.event_type))
    assert cause is not None
    return cause


def pending(*causes: UrgentCause) -> LatestAlert:
    return LatestAlert("m-1", DeliveryStatus.PENDING, None, causes)


def sent(ago: timedelta, *causes: UrgentCause) -> LatestAlert:
    return LatestAlert("m-1", DeliveryStatus.SENT, NOW - ago, causes)


def placing(cause: UrgentCause, latest: LatestAlert | None, *, already: bool = False
            ) -> Placement:
    return place(cause, latest, already_alerted=already, now=NOW, window=WINDOW, gather=GATHER)


# What each cause says.

def test_a_risk_signal_goes_to_the_clinician_by_email_and_the_site_by_webhook() -> None:
    cause = signal("e-1")
    assert (cause.event_id, cause.type) == ("e-1", "iopnet.RiskSignalRaised")
    assert cause.facts == {"alert_reason": "phq9_item9", "observed_on": "2026-12-01",
                           "clinician_id": ""}
    assert [(r.role, r.channel, r.id) for r in urgent_recipients("site-north")] == [
        (RecipientRole.CLINICIAN, Channel.EMAIL, "site-north"),
        (RecipientRole.SITE, Channel.WEBHOOK, "site-north")]


def test_only_an_urgent_decline_is_a_cause() -> None:
    assert declined().facts["recommended_level"] == "inpatient"
    calm = AdmissionDeclined(**WHO, recommended_level=LevelOfCare.STANDARD_OUTPATIENT,
                             reason_codes=[], urgent=False)
    assert declined_alert(calm, occasion("e-2", calm.event_type)) is None


def test_a_step_up_is_a_cause_with_the_level_and_the_reasons() -> None:
    event = SteppedUp(**WHO, to_level=LevelOfCare.PARTIAL_HOSPITALIZATION,
                      effective_on=date(2026, 12, 2),
                      reason_codes=["rise_above_baseline", "clinical_deterioration"])
    cause = stepped_up_alert(event, occasion("e-up", event.event_type))
    assert cause.facts | {"observed_on": "-"} == {
        "alert_reason": "stepped_up", "observed_on": "-", "to_level": "partial_hospitalization",
        "effective_on": "2026-12-02",
        "reason_codes": ["rise_above_baseline", "clinical_deterioration"]}
    assert cause.decisive


# The coalescing rule.

def test_the_first_cause_opens_an_alert_after_the_gathering_pause() -> None:
    assert placing(signal("e-1"), None) == Placement(Placing.NEW_ALERT, due_at=NOW + GATHER)


def test_a_cause_folds_into_the_alert_still_pending() -> None:
    assert placing(signal("e-2"), pending(signal("e-1"))) == Placement(
        Placing.FOLD, message_id="m-1")


def test_a_cause_folds_into_an_alert_waiting_to_retry_too() -> None:
    retrying = LatestAlert("m-1", DeliveryStatus.PENDING, None, (signal("e-1"),))
    assert placing(declined(), retrying).placing is Placing.FOLD


@pytest.mark.parametrize("ago", [timedelta(0), timedelta(seconds=1), WINDOW - timedelta(
    microseconds=1)])
def test_inside_the_window_after_a_sent_alert_a_follow_up_waits_for_it_to_close(
    ago: timedelta,
) -> None:
    assert placing(signal("e-2"), sent(ago, signal("e-1"))) == Placement(
        Placing.FOLLOW_UP, due_at=NOW - ago + WINDOW)


@pytest.mark.parametrize("ago", [WINDOW, WINDOW + timedelta(seconds=1), timedelta(days=1)])
def test_once_the_window_has_closed_a_cause_opens_a_new_alert(ago: timedelta) -> None:
    assert placing(signal("e-2"), sent(ago, signal("e-1"))) == Placement(
        Placing.NEW_ALERT, due_at=NOW + GATHER)


def test_a_pending_follow_up_takes_the_later_causes() -> None:
    follow_up = LatestAlert("m-2", DeliveryStatus.PENDING, None, (signal("e-2"),),
                            follow_up=True)
    assert placing(signal("e-3"), follow_up) == Placement(Placing.FOLD, message_id="m-2")


def test_a_failed_alert_does_not_swallow_a_new_cause() -> None:
    failed = LatestAlert("m-1", DeliveryStatus.FAILED, None, (signal("e-1"),))
    assert placing(signal("e-2"), failed).placing is Placing.NEW_ALERT


@pytest.mark.parametrize("latest", [
    pending(signal("e-1")), sent(timedelta(seconds=5), signal("e-1")),
    sent(WINDOW * 2, signal("e-1"))])
def test_a_redelivered_cause_is_never_placed_again(latest: LatestAlert) -> None:
    assert placing(signal("e-1"), latest).placing is Placing.ALREADY_ALERTED


def test_a_cause_already_in_an_older_alert_is_not_placed_again() -> None:
    assert placing(signal("e-1"), pending(signal("e-9")), already=True).placing is (
        Placing.ALREADY_ALERTED)


# What a coalesced alert says.

def test_a_coalesced_alert_lists_every_cause_in_order_headed_by_the_decision() -> None:
    causes = [signal("e-1"), signal("e-2", RiskSignal.CSSRS_HIGH), declined()]
    facts = alert_facts(causes, follow_up=False)
    assert headline(causes).type == "iopnet.AdmissionDeclined"
    assert facts["alert_reason"] == "admission_declined"
    assert facts["recommended_level"] == "inpatient"
    assert facts["alert_reasons"] == ["phq9_item9", "cssrs_high", "admission_declined"]
    assert [c["event_id"] for c in facts["causes"]] == ["e-1", "e-2", "e-declined"]
    assert causes_of(facts) == tuple(causes)


def test_among_signals_the_latest_heads_the_alert() -> None:
    causes = [signal("e-1"), signal("e-2", RiskSignal.CSSRS_HIGH)]
    assert headline(causes).event_id == "e-2"
    with_decision_first = [declined(), signal("e-3")]
    assert headline(with_decision_first).event_id == "e-declined"


def test_the_alert_a_cause_opens_is_urgent_and_says_whether_it_follows_up() -> None:
    cause = signal("e-2")
    [clinician, _] = urgent_recipients("site-north")
    draft = urgent_draft("p-1", "site-north", clinician, cause,
                         occasion("e-2", cause.type),
                         Placement(Placing.FOLLOW_UP, due_at=NOW + WINDOW))
    assert (draft.kind, draft.urgent, draft.due_at) == (MessageKind.URGENT_ALERT, True,
                                                        NOW + WINDOW)
    assert draft.facts["follow_up"] is True
    assert draft.facts["alert_reasons"] == ["phq9_item9"]


def test_the_email_lists_each_cause_and_a_follow_up_says_so() -> None:
    causes = [signal("e-1"), signal("e-2", RiskSignal.CSSRS_HIGH), declined()]
    context = render_context(MessageKind.URGENT_ALERT, alert_facts(causes, False),
                             patient_id="p-1", site_name="North", zone="UTC")
    assert context["alert_heading"] == "same-day review"
    assert context["causes"].splitlines() == [
        "- phq9 item9 (observed 2026-12-01)", "- cssrs high (observed 2026-12-01)",
        "- admission declined: inpatient recommended (cssrs high)"]
    assert context["alert_reasons"] == "phq9 item9, cssrs high, admission declined"
    follow_up = render_context(MessageKind.URGENT_ALERT, alert_facts(causes[:1], True),
                               patient_id="p-1", site_name="North", zone="UTC")
    assert follow_up["alert_heading"] == "additional risk signals"
    assert follow_up["causes"].splitlines()[0].startswith("Additional risk signals")
