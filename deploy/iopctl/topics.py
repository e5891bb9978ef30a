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
from iopctl.kafka_acls import provision
from iopctl.kafka_admin import TopicSettingsDiffer, ensure_topics, wait_ready, with_admin
from iopctl.kafka_principals import Principals, principal_of
from iopctl.progress import say
from iopnet.settings import DEFAULT_KAFKA_PORT
from iopnet.topics import SERVICES, all_topics, namespace


def default_bootstrap() -> str:
    """``IOPNET_KAFKA_BOOTSTRAP`` as the services read it, else the local broker."""
    return os.environ.get("IOPNET_KAFKA_BOOTSTRAP") or (
        f"127.0.0.1:{os.environ.get('IOPNET_KAFKA_PORT', DEFAULT_KAFKA_PORT)}"
    )


def principals_from_env() -> Principals:
    """Each service's Kafka password, from IOPNET_KAFKA_<SERVICE>_PASSWORD (Compose's)."""
    variables = {s: f"IOPNET_KAFKA_{s.upper()}_PASSWORD" for s in SERVICES}
    missing = [v for v in variables.values() if not os.environ.get(v)]
    if missing:
        raise InfraError(f"topics: --principals needs {', '.join(missing)}")
    return Principals(admin_password="", passwords={s: os.environ[v]
                                                    for s, v in variables.items()})


async def ensure(bootstrap: str, wait_s: float, replication_factor: int | None = None,
                 align: bool = False, principals: Principals | None = None) -> list[str]:
    """Wait for the broker, then create the topics it lacks; returns the names created.

    Existing topics must have the durability settings iopnet needs
    (``iopnet.topics.durability``); a difference fails, unless ``align``. With
    ``principals`` (logged in as a super user), each service's SCRAM credential and
    ACLs too.
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
    if principals is not None:
        found = principals
        await with_admin(bootstrap, lambda admin: provision(admin, found, namespace()))
        say("topics", "principals " + ", ".join(principal_of(s) for s in SERVICES)
            + ": credentials set, ACLs granted")
    return created


def _ensure(args: argparse.Namespace) -> int:
    principals = principals_from_env() if args.principals else None
    asyncio.run(ensure(args.bootstrap or default_bootstrap(), args.wait,
                       args.replication_factor, args.align, principals))
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
    ensure_parser.add_argument(
        "--principals", action="store_true",
        help="also each service's SCRAM-SHA-512 login (password from "
             "$IOPNET_KAFKA_<SERVICE>_PASSWORD) and its ACLs (docs/security.md)")
    ensure_parser.set_defaults(handler=_ensure)
