"""Kafka topics: one per producing service, keyed by patient id.

Each service publishes its patients' events to its own topic, so a topic's
owner is obvious and a consumer subscribes to exactly the producers it cares
about. Every record's key is the event's subject (the patient id; the site id
on the network topic), so one patient's events land in one partition and stay
in order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

SERVICES: tuple[str, ...] = ("intake", "plans", "sessions", "family", "notifications")


#: How long Kafka keeps events: 30 days. Rebuilds read a service's own event
#: store and the inbox of events it consumed (``applied_events``), never Kafka
#: from the beginning, so retention only has to outlast the longest consumer
#: outage or database restore; and a forgotten patient's identifiers leave the
#: broker with it.
RETENTION_MS = 30 * 24 * 3600 * 1000


def durability(replication_factor: int) -> dict[str, str]:
    """The topic settings an acknowledged event relies on, for that many replicas.

    With 3 replicas, a write needs 2 in sync (acks=all), and an out-of-sync replica
    never becomes leader (that would drop acknowledged events).
    """
    return {
        "min.insync.replicas": str(min(2, max(1, replication_factor - 1))),
        "unclean.leader.election.enable": "false",
        "retention.ms": str(RETENTION_MS),
        "cleanup.policy": "delete",
    }


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 6
    replication_factor: int = 1

    @property
    def config(self) -> dict[str, str]:
        return durability(self.replication_factor)


#: Topic names start with a namespace, so several systems (a developer's
#: ``make up`` and a test run, say) can share one broker without reading each
#: other's events. Production keeps the default.
NAMESPACE_ENV = "IOPNET_TOPIC_NAMESPACE"
DEFAULT_NAMESPACE = "iopnet"


def namespace() -> str:
    return os.environ.get(NAMESPACE_ENV) or DEFAULT_NAMESPACE


def topic_of(service: str, within: str | None = None) -> str:
    """The topic a service publishes its events to."""
    return f"{within or namespace()}.{service}.events"


class TopicsOf(Sequence[str]):
    """The topics of these producers, named each time they are read: a projection
    defined at import subscribes in the namespace in force when it subscribes (a test
    may have moved to a namespace of its own), not in the one at import."""

    def __init__(self, *services: str) -> None:
        self.services = services

    def __len__(self) -> int:
        return len(self.services)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return [topic_of(service) for service in self.services][index]

    def __repr__(self) -> str:
        return f"TopicsOf{self.services!r}"


def network_topic(within: str | None = None) -> str:
    """Sites, their policies and API keys, keyed by site id. Intake publishes it
    (it keeps the network's registry); every service consumes it."""
    return f"{within or namespace()}.network.events"


def all_topics(within: str | None = None) -> tuple[TopicSpec, ...]:
    return (
        *(TopicSpec(topic_of(s, within)) for s in SERVICES),
        TopicSpec(network_topic(within), partitions=3),
    )
