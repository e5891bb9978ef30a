"""``iopctl topics ensure``: create the services' Kafka topics, idempotently.

Auto-creation is off on every broker iopnet runs against, so the topics in
``iopnet.topics.all_topics()`` must exist before a relay publishes. Docker
Compose and the Helm chart's topic job run this command; running it again
creates nothing new.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from dataclasses import replace

from iopctl.errors import InfraError
from iopctl.kafka_admin import TopicSettingsDiffer, ensure_topics, wait_ready
from iopctl.progress import say
from iopnet.settings import DEFAULT_KAFKA_PORT
from iopnet.topics import all_topics


def default_bootstrap() -> str:
    """``IOPNET_KAFKA_BOOTSTRAP`` as the services read it, else the local broker."""
    return os.environ.get("IOPNET_KAFKA_BOOTSTRAP") or (
        f"127.0.0.1:{os.environ.get('IOPNET_KAFKA_PORT', DEFAULT_KAFKA_PORT)}"
    )


async def ensure(bootstrap: str, wait_s: float, replication_factor: int | None = None,
                 align: bool = False) -> list[str]:
    """Wait for the broker, then create the topics it lacks; returns the names created.

    Existing topics must have the durability settings iopnet needs
    (``iopnet.topics.durability``); a difference fails, unless ``align``.
    """
    specs = [spec if replication_factor is None else
             replace(spec, replication_factor=replication_factor) for spec in all_topics()]
    say("topics", f"waiting for the broker at {bootstrap} (up to {wait_s:.0f}s)")
    quiet = logging.getLogger("aiokafka")  # one line at the end, not one per retry
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        await wait_ready(bootstrap, wait_s)
    except Exception as exc:
        raise InfraError(f"topics: no Kafka broker answered at {bootstrap} within "
                         f"{wait_s:.0f}s: {exc!r}") from exc
    finally:
        quiet.setLevel(level)
    try:
        created = await ensure_topics(bootstrap, specs, align=align)
    except TopicSettingsDiffer as differ:
        raise InfraError(f"topics: {differ}\n  (iopctl topics ensure --align brings them in"
                         " line)") from differ
    for spec in specs:
        state = "created" if spec.name in created else "exists"
        settings = ", ".join(f"{k}={v}" for k, v in spec.config.items())
        say("topics", f"{spec.name:<28} {spec.partitions} partitions, "
                      f"replication {spec.replication_factor}, {settings}: {state}")
    return created


def _ensure(args: argparse.Namespace) -> int:
    asyncio.run(ensure(args.bootstrap or default_bootstrap(), args.wait,
                       args.replication_factor, args.align))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("topics", help="the services' Kafka topics")
    actions = parser.add_subparsers(dest="action", required=True, metavar="{ensure}")
    ensure_parser = actions.add_parser(
        "ensure", help="create the missing topics (idempotent)")
    ensure_parser.add_argument(
        "--bootstrap", metavar="HOST:PORT",
        help="Kafka bootstrap servers (default: $IOPNET_KAFKA_BOOTSTRAP, else the local broker)")
    ensure_parser.add_argument(
        "--wait", type=float, default=60.0, metavar="SECONDS",
        help="how long to wait for the broker to answer first (default: 60)")
    ensure_parser.add_argument(
        "--replication-factor", type=int, default=None, metavar="N",
        help="replicas of each new topic (default: as in iopnet.topics, 1); "
             "existing topics are left as they are")
    ensure_parser.add_argument(
        "--align", action="store_true",
        help="bring existing topics' durability settings in line instead of failing")
    ensure_parser.set_defaults(handler=_ensure)
