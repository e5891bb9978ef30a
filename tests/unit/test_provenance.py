"""Every event a service records is believed when it comes from that service's topic."""

from __future__ import annotations

import pytest

from iopnet.catalog import CATALOG
from iopnet.envelope import EventEnvelope
from iopnet.provenance import UntrustedRecord, check_provenance, producers_of, topic_for
from iopnet.topics import topic_of

pytestmark = pytest.mark.unit

PUBLISHED = sorted(t for t, c in CATALOG.items() if c.published)


def envelope(event_type: str, source: str) -> EventEnvelope:
    return EventEnvelope(source=source, type=event_type, subject="p-1", siteid="s-1",
                         streamid="x", streamversion=1, correlationid="c", causationid="c",
                         data={})


@pytest.mark.parametrize("event_type", PUBLISHED)
def test_each_producer_is_believed_on_its_own_topic_only(event_type: str) -> None:
    event_class = CATALOG[event_type]
    for producer in producers_of(event_class):
        check_provenance(topic_for(event_class, producer),
                         envelope(event_type, f"/iopnet/{producer}"))
        with pytest.raises(UntrustedRecord):
            check_provenance(topic_of("notifications") if producer != "notifications"
                             else topic_of("family"), envelope(event_type, f"/iopnet/{producer}"))


def test_sessions_raises_risk_signals_too() -> None:
    check_provenance(topic_of("sessions"), envelope("iopnet.RiskSignalRaised", "/iopnet/sessions"))
    with pytest.raises(UntrustedRecord):
        check_provenance(topic_of("family"), envelope("iopnet.RiskSignalRaised", "/iopnet/family"))
