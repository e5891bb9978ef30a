import asyncio
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import date

import asyncpg
import pytest

from iopctl.kafka_principals import admin_options
from iopnet.catalog import PatientReferred, ReferralSource
from iopnet.eventstore import Cause, EventStore
from iopnet.relay import RELAY_LOCK, MissingTopic, OutboxRelay
from tests.conftest import eventually
from tests.fixtures.infra import Endpoints
from tests.integration.kafka_helpers import new_topic, read_envelopes

pytestmark = pytest.mark.integration

PATIENTS = 5
EVENTS_EACH = 40


def referral(patient_id: str, n: int) -> PatientReferred:
    return PatientReferred(patient_id=patient_id, site_id="s-1", referral_id=f"r-{n}",
                           source=ReferralSource.SELF, referred_on=date(2026, 11, 25))


async def append_interleaved(pool: asyncpg.Pool, store: EventStore, patients: list[str],
                             rounds: range) -> None:
    async with pool.acquire() as conn:
        for n in rounds:
            for patient in patients:
                await store.append(conn, f"patient-{patient}", n, [referral(patient, n)],
                                   Cause("c", "c"))


def relay_for(pool: asyncpg.Pool, infra: Endpoints, store: EventStore) -> OutboxRelay:
    dsn = pool._connect_args[0]  # type: ignore[attr-defined]
    return OutboxRelay(dsn=dsn, bootstrap_servers=infra.kafka_bootstrap,
                       client_options=admin_options(infra.kafka_bootstrap),
                       channel=store.channel, batch_size=17)


async def test_relay_keeps_per_key_order_and_loses_nothing_across_a_restart(
    db_pool: asyncpg.Pool, infra: Endpoints,
) -> None:
    topic = await new_topic(infra.kafka_bootstrap)
    store = EventStore(source="/iopnet/relaytest", topic=topic)
    patients = [str(uuid.uuid4()) for _ in range(PATIENTS)]
    await append_interleaved(db_pool, store, patients, range(EVENTS_EACH // 2))

    first = relay_for(db_pool, infra, store)
    stop = asyncio.Event()
    running = asyncio.create_task(first.run(stop))
    await eventually(lambda: asyncio.sleep(0, first.published > 0))
    stop.set()  # stop mid-way: the rest waits in the outbox
    await running

    # More events arrive while no relay runs; a new relay resumes where the first left off.
    await append_interleaved(db_pool, store, patients, range(EVENTS_EACH // 2, EVENTS_EACH))
    second = relay_for(db_pool, infra, store)
    stop = asyncio.Event()
    running = asyncio.create_task(second.run(stop))
    await eventually(lambda: db_pool.fetchval("SELECT count(*) = 0 FROM outbox"), timeout=20)
    stop.set()
    await running

    envelopes = await read_envelopes(infra.kafka_bootstrap, topic, PATIENTS * EVENTS_EACH)
    versions: dict[str, list[int]] = defaultdict(list)
    for envelope in envelopes:
        versions[envelope.subject].append(envelope.streamversion)
    assert set(versions) == set(patients)
    for patient in patients:
        assert versions[patient] == list(range(1, EVENTS_EACH + 1))


async def test_relay_wakes_on_notify_without_waiting_for_its_timer(
    db_pool: asyncpg.Pool, infra: Endpoints,
) -> None:
    topic = await new_topic(infra.kafka_bootstrap, partitions=1)
    store = EventStore(source="/iopnet/relaytest", topic=topic)
    relay = relay_for(db_pool, infra, store)
    relay.safety_poll_seconds = 3600  # only NOTIFY can wake it within the test
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    await eventually(lambda: asyncio.sleep(0, relay.rounds >= 1), timeout=30)  # drained, asleep
    await append_interleaved(db_pool, store, ["p-1"], range(1))
    await eventually(lambda: asyncio.sleep(0, relay.published == 1 and relay.rounds >= 2),
                     timeout=30)
    assert relay.rounds == 2  # one round after the wake-up, none from a timer
    stop.set()
    await running


async def run_until(relay: OutboxRelay, done: Callable[[], Awaitable[bool]],
                    timeout: float = 20) -> None:
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        await eventually(done, timeout=timeout)
    finally:
        stop.set()
        await running


async def test_a_row_the_broker_never_takes_is_parked_and_holds_back_only_its_key(
    db_pool: asyncpg.Pool, infra: Endpoints,
) -> None:
    topic = await new_topic(infra.kafka_bootstrap)
    store = EventStore(source="/iopnet/relaytest", topic=topic)
    # "fine" comes first in the batch: the acknowledged prefix leaves the outbox.
    await append_interleaved(db_pool, store, ["fine", "poison"], range(1))
    # Larger than the broker's default message.max.bytes (1 MiB): refused for good.
    await db_pool.execute(
        "UPDATE outbox SET envelope = jsonb_set(envelope, '{data,referral_id}', to_jsonb($1::text))"
        " WHERE envelope->>'subject' = 'poison'", "x" * 1_200_000)
    await append_interleaved(db_pool, store, ["poison", "fine"], range(1, 3))
    relay = relay_for(db_pool, infra, store)

    async def settled() -> bool:
        return relay.parked == 1 and relay.published == 3

    await run_until(relay, settled)
    left = await db_pool.fetch("SELECT envelope->>'subject' AS key, parked_at IS NOT NULL AS"
                               " parked FROM outbox ORDER BY position")
    assert [(r["key"], r["parked"]) for r in left] == [
        ("poison", True), ("poison", False), ("poison", False)]
    published = await read_envelopes(infra.kafka_bootstrap, topic, 3)
    assert {e.subject for e in published} == {"fine"}


async def test_a_missing_topic_is_said_at_start(db_pool: asyncpg.Pool, infra: Endpoints
                                                ) -> None:
    store = EventStore(source="/iopnet/relaytest", topic=f"missing-{uuid.uuid4().hex}")
    relay = OutboxRelay(dsn=db_pool._connect_args[0],  # type: ignore[attr-defined]
                        bootstrap_servers=infra.kafka_bootstrap,
                        client_options=admin_options(infra.kafka_bootstrap), channel=store.channel,
                        topics=[store.topic])
    with pytest.raises(MissingTopic, match="iopctl topics ensure"):
        await relay.run(asyncio.Event())


async def test_a_standby_takes_over_when_the_leaders_session_dies(
    db_pool: asyncpg.Pool, infra: Endpoints,
) -> None:
    """Leadership is per batch: a leader whose session the server ends holds nothing."""
    topic = await new_topic(infra.kafka_bootstrap)
    store = EventStore(source="/iopnet/relaytest", topic=topic)
    # A stalled leader: it holds the lock inside a transaction, then goes silent.
    holder = await asyncpg.connect(db_pool._connect_args[0])  # type: ignore[attr-defined]
    await holder.execute(f"BEGIN; SELECT pg_advisory_xact_lock({RELAY_LOCK})")
    await append_interleaved(db_pool, store, ["p-1"], range(1))
    standby = relay_for(db_pool, infra, store)
    stop = asyncio.Event()
    running = asyncio.create_task(standby.run(stop))
    await asyncio.sleep(1)
    assert standby.published == 0
    # The server ends the silent session (idle-in-transaction timeout, or an operator).
    await db_pool.execute("SELECT pg_terminate_backend($1)", holder.get_server_pid())
    holder.terminate()
    await eventually(lambda: asyncio.sleep(0, standby.published == 1), timeout=10)
    stop.set()
    await running
