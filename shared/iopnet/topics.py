"""Kafka topics: one per producing service, keyed by patient id.

Each service publishes its patients' events to its own topic, so a topic's
owner is obvious and a consumer subscribes to exactly the producers it cares
about. Every record's key is the event's subject (the patient id; the site id
on the network topic), so one patient's events land in one partition and stay
in order.
"""

from __future__ import annotations

from dataclasses import dataclass

SERVICES: tuple[str, ...] = ("intake", "plans", "sessions", "family", "notifications")


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 6
    replication_factor: int = 1


def topic_of(service: str) -> str:
    """The topic a service publishes its events to."""
    return f"iopnet.{service}.events"


#: Sites, their policies and API keys, keyed by site id. Intake publishes it
#: (it keeps the network's registry); every service consumes it.
NETWORK_TOPIC = "iopnet.network.events"

ALL_TOPICS: tuple[TopicSpec, ...] = (
    *(TopicSpec(topic_of(s)) for s in SERVICES),
    TopicSpec(NETWORK_TOPIC, partitions=3),
)
