"""The real relay, consumer or delivery worker in a process of its own, SIGKILLed by itself
at a dangerous moment (tests/integration/test_crashes.py).

``python -m tests.integration.crash_runner '<json>'`` runs the role the JSON names. The
production code is untouched: a method is wrapped here, in this process only, so that
the process kills itself (SIGKILL: no cleanup, no ``finally``, as a machine losing power)
exactly between two steps. Without a moment it runs the role unwrapped until killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from iopctl.kafka_principals import admin_options
from iopnet.catalog import DomainEvent, PatientAdmitted
from iopnet.consumer import ConsumerRunner, Projection, Projector
from iopnet.db import Connection, create_pool
from iopnet.envelope import EventEnvelope
from iopnet.relay import OutboxRelay
from tests.integration.test_consumer import count_admissions  # one row per patient, times seen

#: The process never stops on its own: only the moment (or the test) ends it.
FOREVER = asyncio.Event()


def die() -> NoReturn:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


def on_nth_call(count: int) -> Callable[[], bool]:
    """True on the ``count``-th call and never before."""
    calls = 0

    def reached() -> bool:
        nonlocal calls
        calls += 1
        return calls == count

    return reached


async def relay(config: dict[str, Any]) -> None:
    """``acked``: after the n-th batch was acknowledged by Kafka, before its rows are
    deleted from the outbox. ``sent``: after the n-th record was handed to the producer,
    before Kafka acknowledged it."""
    moment, reached = config.get("moment"), on_nth_call(config.get("nth", 1))
    if moment == "acked":
        deliver = OutboxRelay._deliver

        async def deliver_then_die(self: OutboxRelay, producer: Any, rows: Any) -> Any:
            outcome = await deliver(self, producer, rows)
            if reached():
                die()
            return outcome

        OutboxRelay._deliver = deliver_then_die  # type: ignore[method-assign]
    elif moment == "sent":
        send = OutboxRelay._send

        async def send_then_die(self: OutboxRelay, producer: Any, row: Any) -> Any:
            queued = await send(self, producer, row)
            if reached():
                die()
            return queued

        OutboxRelay._send = send_then_die  # type: ignore[method-assign]
    await OutboxRelay(dsn=config["dsn"], bootstrap_servers=config["bootstrap"],
                      client_options=admin_options(config["bootstrap"]),
                      channel=config["channel"], batch_size=config["batch_size"]).run(FOREVER)


async def consumer(config: dict[str, Any]) -> None:
    """``projected``: after the n-th event was projected, inside the transaction that
    also moves the stored offset, before it commits. ``stored``: after the database
    committed a batch, before the offsets are committed to Kafka."""
    moment, reached = config.get("moment"), on_nth_call(config.get("nth", 1))
    projector: Projector = count_admissions
    if moment == "projected":
        async def project_then_die(conn: Connection, event: DomainEvent,
                                   envelope: EventEnvelope) -> None:
            await count_admissions(conn, event, envelope)
            if reached():
                die()

        projector = project_then_die
    elif moment == "stored":
        commit = ConsumerRunner._commit_to_kafka

        async def die_before_kafka_commit(self: ConsumerRunner, kafka: Any, offsets: Any
                                          ) -> None:
            if offsets and reached():  # a rebalance at start commits nothing
                die()
            await commit(self, kafka, offsets)

        ConsumerRunner._commit_to_kafka = die_before_kafka_commit  # type: ignore[method-assign, assignment]
    pool = await create_pool(config["dsn"])
    await ConsumerRunner(
        group_id=config["group"], pool=pool, bootstrap_servers=config["bootstrap"],
        client_options=admin_options(config["bootstrap"]),
        projection=Projection(topics=[config["topic"]],
                              projectors={PatientAdmitted: projector}),
        retry_delay=0.05).run(FOREVER)


async def worker(config: dict[str, Any]) -> None:
    """``answered``: after a webhook was answered 2xx, before the delivery is recorded."""
    from services.notifications.delivery import Postman, deliver_due_messages
    from services.notifications.settings import NotificationsSettings

    if config.get("moment") == "answered":
        post = Postman.post_webhook

        async def post_then_die(self: Postman, *args: Any) -> None:
            await post(self, *args)  # raises unless the receiver answered 2xx
            die()

        Postman.post_webhook = post_then_die  # type: ignore[method-assign, assignment]
    settings = NotificationsSettings(**config["settings"])
    pool = await create_pool(settings.database_url)
    await deliver_due_messages(pool, settings, FOREVER)


ROLES = {"relay": relay, "consumer": consumer, "worker": worker}

if __name__ == "__main__":
    given = json.loads(sys.argv[1])
    asyncio.run(ROLES[given["role"]](given))
