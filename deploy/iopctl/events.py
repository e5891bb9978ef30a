"""``iopctl events verify [--repair]``: has every consumer applied every event it should?

For each service that consumes, and each topic it reads, the events the topic's
producer published (its ``events`` table; those still in its outbox are not out
yet) are compared by id with the consumer's inbox (``applied_events``, which
holds every event it consumed, projected or not). What is missing is reported
per consumer and topic, with the ids, and whether the consumer dead-lettered it.

``--repair`` applies the missing events, read from the producer's store, through
the consumer's own projection, as its runner does: inbox row and projection in
one transaction, each event at most once. The consumer's stored offsets are left
alone: they never move backwards.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from iopctl import postgres
from iopctl.stack import spec_of
from iopnet.catalog import CATALOG, NetworkEvent
from iopnet.consumer import Projection
from iopnet.db import Connection, connect
from iopnet.envelope import EventEnvelope
from iopnet.inbox import Position
from iopnet.topics import SERVICES, network_topic, topic_of

#: Rows recorded before events had a topic column went to their producer's topic,
#: or to the network topic for a network event (migration 006).
_PUBLISHED = (
    "SELECT e.event_id, e.event_type FROM events e WHERE e.published"
    " AND coalesce(e.topic, CASE WHEN e.event_type = ANY($2::text[]) THEN $3 ELSE $4 END) = $1"
    " AND e.recorded_at <= now() - make_interval(secs => $5)"
    " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.envelope->>'id' = e.event_id::text)"
    " ORDER BY e.global_position"
)


@dataclass(frozen=True)
class Feed:
    """A topic a consumer reads: where its events are recorded, and where applied."""

    consumer: str
    topic: str
    producer: str
    producer_dsn: str
    consumer_dsn: str
    projection: Projection


@dataclass(frozen=True)
class Missing:
    event_id: uuid.UUID
    event_type: str
    dead_lettered: bool


@dataclass
class Report:
    feed: Feed
    published: int
    missing: list[Missing]
    repaired: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def unresolved(self) -> int:
        return len(self.missing) - self.repaired


def producer_of(topic: str) -> str:
    """The service that publishes ``topic``: intake for the network's, else its owner."""
    if topic == network_topic():
        return "intake"
    return next(service for service in SERVICES if topic_of(service) == topic)


def service_feeds(dsns: Mapping[str, str]) -> list[Feed]:
    """Every (consumer, topic) of the five services, with their databases."""
    feeds = []
    for consumer in SERVICES:
        projection = spec_of(consumer).consumer_projection()
        if projection is None:
            continue
        for topic in projection.topics:
            producer = producer_of(topic)
            feeds.append(Feed(consumer, topic, producer, dsns[producer], dsns[consumer],
                              projection))
    return feeds


async def verify(feeds: Sequence[Feed], *, repair: bool = False, older_than: float = 0.0
                 ) -> list[Report]:
    return [await verify_feed(feed, repair=repair, older_than=older_than) for feed in feeds]


async def verify_feed(feed: Feed, *, repair: bool = False, older_than: float = 0.0) -> Report:
    producer, consumer = await connect(feed.producer_dsn), await connect(feed.consumer_dsn)
    try:
        published = await _published(producer, feed, older_than)
        report = Report(feed, len(published), await _missing(consumer, published))
        if repair and report.missing:
            await _repair(report, producer, consumer)
        return report
    finally:
        await producer.close()
        await consumer.close()


async def _published(producer: Connection, feed: Feed, older_than: float
                     ) -> list[tuple[uuid.UUID, str]]:
    network_types = [name for name, kind in CATALOG.items() if issubclass(kind, NetworkEvent)]
    rows = await producer.fetch(_PUBLISHED, feed.topic, network_types, network_topic(),
                                topic_of(feed.producer), older_than)
    return [(row["event_id"], row["event_type"]) for row in rows]


async def _missing(consumer: Connection, published: list[tuple[uuid.UUID, str]]
                   ) -> list[Missing]:
    applied = {row["event_id"] for row in await consumer.fetch(
        "SELECT event_id FROM applied_events WHERE event_id = ANY($1::uuid[])",
        [event_id for event_id, _ in published])}
    absent = [(event_id, kind) for event_id, kind in published if event_id not in applied]
    dead = {row["event_id"] for row in await consumer.fetch(
        "SELECT event_id FROM dead_letters WHERE event_id = ANY($1::text[])",
        [str(event_id) for event_id, _ in absent])}
    return [Missing(event_id, kind, str(event_id) in dead) for event_id, kind in absent]


async def _repair(report: Report, producer: Connection, consumer: Connection) -> None:
    """Apply the missing events in the producer's order, each in its own transaction."""
    rows = await producer.fetch(
        "SELECT envelope FROM events WHERE event_id = ANY($1::uuid[]) ORDER BY global_position",
        [missing.event_id for missing in report.missing])
    for row in rows:
        envelope = EventEnvelope.model_validate(row["envelope"])
        try:
            async with consumer.transaction():
                await report.feed.projection.apply(consumer, envelope,
                                                   Position(report.feed.topic))
        except Exception as failure:  # reported; the other events are still repaired
            report.failures.append(f"{envelope.id} {envelope.type}: {failure!r}")
        else:
            report.repaired += 1


def print_report(report: Report, *, repair: bool) -> None:
    dead = sum(missing.dead_lettered for missing in report.missing)
    line = (f"{report.feed.consumer:<14} {report.feed.topic:<34} {report.published:>8} published"
            f"  {len(report.missing)} missing")
    line += f" ({dead} dead-lettered)" if dead else ""
    line += f", {report.repaired} repaired" if repair and report.missing else ""
    print(line)
    for missing in report.missing:
        note = "  (dead-lettered)" if missing.dead_lettered else ""
        print(f"    {missing.event_id}  {missing.event_type}{note}")
    for failure in report.failures:
        print(f"    repair failed: {failure}")


def database_urls(pairs: Sequence[str]) -> dict[str, str]:
    """The local cluster's databases, overridden by ``SERVICE=DSN`` pairs."""
    urls = {service: postgres.dsn(service) for service in SERVICES}
    for pair in pairs:
        service, _, dsn = pair.partition("=")
        if service not in SERVICES or not dsn:
            raise SystemExit(f"iopctl: --database wants SERVICE=DSN, SERVICE one of "
                             f"{', '.join(SERVICES)}; got {pair!r}")
        urls[service] = dsn
    return urls


def _verify(args: argparse.Namespace) -> int:
    feeds = service_feeds(database_urls(args.database))
    reports = asyncio.run(verify(feeds, repair=args.repair, older_than=args.older_than))
    for report in reports:
        print_report(report, repair=args.repair)
    return 1 if any(report.unresolved for report in reports) else 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("events", help="the events between the services")
    actions = parser.add_subparsers(dest="action", required=True, metavar="{verify}")
    verify_parser = actions.add_parser(
        "verify", help="compare what producers published with what each consumer applied; "
                       "exit 1 while any is missing")
    verify_parser.add_argument(
        "--repair", action="store_true",
        help="apply the missing events through the consumer's own projection")
    verify_parser.add_argument(
        "--database", action="append", default=[], metavar="SERVICE=DSN",
        help="a service's database (repeat per service; default: the local cluster's)")
    verify_parser.add_argument(
        "--older-than", type=float, default=0.0, metavar="SECONDS",
        help="leave out events recorded in the last SECONDS (still on their way)")
    verify_parser.set_defaults(handler=_verify)
