"""Who may say what: an event is believed only from its producer, on its producer's topic.

Kafka topics are a control plane: ``ApiKeyIssued`` on any topic a service
reads would otherwise mint a key in every service. So each event type has its
producers: the service whose catalog module defines it (network events and
transfers belong to intake, which keeps the registry), and for a risk signal
also sessions, which measures in the program. A record is applied only when its
``ce_source`` names one of them and it came on that producer's topic (the
network topic for network events). Per-service Kafka principals, each
allowed to write its own topic only, make the topic itself trustworthy.
"""

from __future__ import annotations

from iopnet.catalog import DomainEvent, NetworkEvent
from iopnet.catalog.base import event_class_of
from iopnet.envelope import EventEnvelope
from iopnet.kafka_binding import MalformedRecord
from iopnet.topics import network_topic, topic_of

#: Catalog modules whose events another service produces.
_PRODUCED_BY = {"network": "intake"}
#: Event types more than one service records.
_ALSO_PRODUCED_BY = {"iopnet.RiskSignalRaised": ("sessions",)}


class UntrustedRecord(MalformedRecord):
    """A record claiming to be an event that its topic or source may not carry."""


def producers_of(event_class: type[DomainEvent]) -> tuple[str, ...]:
    module = event_class.__module__.rsplit(".", 1)[-1]
    return (_PRODUCED_BY.get(module, module), *_ALSO_PRODUCED_BY.get(event_class.event_type, ()))


def topic_for(event_class: type[DomainEvent], producer: str) -> str:
    """Where ``producer`` publishes events of this class."""
    return network_topic() if issubclass(event_class, NetworkEvent) else topic_of(producer)


def check_provenance(topic: str, envelope: EventEnvelope) -> None:
    """Raise UntrustedRecord unless one of the event's producers sent it on its own topic."""
    event_class = event_class_of(envelope)
    if not event_class.published:
        raise UntrustedRecord(f"{envelope.type} is private to its service: never on Kafka")
    allowed = {(f"/iopnet/{p}", topic_for(event_class, p)) for p in producers_of(event_class)}
    if (envelope.source, topic) not in allowed:
        raise UntrustedRecord(
            f"{envelope.type} is published by {sorted(allowed)};"
            f" refused from {envelope.source} on {topic}")
