"""Who may say what: an event is believed only from its producer, on its producer's topic.

Kafka topics are a control plane: ``ApiKeyIssued`` on any topic a service
reads would otherwise mint a key in every service. So each event type has one
producer, the service whose catalog module defines it (network events and
transfers belong to intake, which keeps the registry); a record is applied only
when its ``ce_source`` names that producer and it came on that producer's topic
(the network topic for network events). Per-service Kafka principals, each
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


class UntrustedRecord(MalformedRecord):
    """A record claiming to be an event that its topic or source may not carry."""


def producer_of(event_class: type[DomainEvent]) -> str:
    module = event_class.__module__.rsplit(".", 1)[-1]
    return _PRODUCED_BY.get(module, module)


def expected_topic(event_class: type[DomainEvent]) -> str:
    if issubclass(event_class, NetworkEvent):
        return network_topic()
    return topic_of(producer_of(event_class))


def check_provenance(topic: str, envelope: EventEnvelope) -> None:
    """Raise UntrustedRecord unless the event's own producer sent it on its own topic."""
    event_class = event_class_of(envelope)
    if not event_class.published:
        raise UntrustedRecord(f"{envelope.type} is private to its service: never on Kafka")
    producer = producer_of(event_class)
    if envelope.source != f"/iopnet/{producer}" or topic != expected_topic(event_class):
        raise UntrustedRecord(
            f"{envelope.type} is {producer}'s to publish on {expected_topic(event_class)};"
            f" refused from {envelope.source} on {topic}")
