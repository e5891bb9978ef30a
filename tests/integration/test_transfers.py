"""Transfers against events in flight: a consumer takes the patient's site from its own
row, not from an event recorded at the old site before its producer heard of the
transfer; the transfer frees the old site's places and cancels its pending messages."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import date
from unittest.mock import patch

import asyncpg
import pytest

from iopnet.catalog import (
    DomainEvent,
    PatientAdmitted,
    PatientReferred,
    PatientTransferred,
    ReferralSource,
    RiskSignal,
    RiskSignalRaised,
    SessionKind,
    SessionScheduled,
)
from iopnet.catalog.codes import Modality
from iopnet.consumer import Projection
from iopnet.db import Connection, create_pool
from iopnet.eventstore import Cause
from iopnet.inbox import Position
from iopnet.rebuild import rebuild
from iopnet.rebuild_sites import SiteMap
from iopnet.service import ServiceSpec
from iopnet.topics import topic_of
from iopnet.transfers import SiteOf
from services.notifications import commands, store
from services.notifications.domain import SiteChannels
from services.notifications.service import SPEC as NOTIFICATIONS
from services.notifications.store import MESSAGE_TABLES
from services.sessions.service import SPEC as SESSIONS
from tests.conftest import FreshDatabase, eventually
from tests.integration import sessions_helpers
from tests.integration.sessions_helpers import admission, at_utc, envelope, sessions_database_at

pytestmark = pytest.mark.integration

OLD, NEW = "site-old", "site-new"


async def consume(pool: asyncpg.Pool, projection: Projection, event: DomainEvent,
                  source: str) -> None:
    """What the service's consumer does with one record of ``source``'s topic."""
    made = envelope(event, source)
    async with pool.acquire() as conn, conn.transaction():
        await projection.apply(conn, made, Position(topic_of(source)))


@pytest.fixture
async def notifications_dsn(fresh_database: FreshDatabase) -> str:
    return await fresh_database("notifications")


@pytest.fixture
async def notifications(notifications_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    dsn = notifications_dsn
    await NOTIFICATIONS.migrate(dsn)
    pool = await create_pool(dsn)
    async with pool.acquire() as conn:
        for site in (OLD, NEW):
            await conn.execute("INSERT INTO sites (site_id, name, time_zone, policies)"
                               " VALUES ($1, $1, 'America/Chicago', $2)", site,
                               {"quiet_hours_start": "00:00:00", "quiet_hours_end": "00:00:00"})
            await commands.set_channels(commands.unit_of_work(conn, Cause("t", "t")),
                                        SiteChannels(site, f"alerts@{site}.example.org"))
    yield pool
    await pool.close()


@pytest.mark.parametrize("together", [False, True], ids=["one by one", "in one batch"])
async def test_a_risk_signal_from_the_old_site_alerts_the_new_one(
    notifications: asyncpg.Pool, notifications_dsn: str, together: bool,
) -> None:
    projection = NOTIFICATIONS.consumer_projection()
    assert projection is not None
    patient_id = str(uuid.uuid4())
    consumed: list[tuple[DomainEvent, str]] = [
        (PatientReferred(patient_id=patient_id, site_id=OLD, referral_id="r-1",
                         source=ReferralSource.SELF, referred_on=date(2026, 11, 20)), "intake"),
        (PatientAdmitted(patient_id=patient_id, site_id=OLD, program_id="iop",
                         start_date=date(2026, 12, 7), days_per_week=4, planned_weeks=10,
                         clinician_id="clin-7", baseline_phq9=18), "intake"),
        (PatientTransferred(patient_id=patient_id, site_id=NEW, from_site_id=OLD), "intake"),
        # Sessions measured it before it heard of the transfer: the event says the old site.
        (RiskSignalRaised(patient_id=patient_id, site_id=OLD, signal=RiskSignal.PHQ9_ITEM9,
                          observed_on=date(2026, 12, 8)), "sessions"),
        (SessionScheduled(patient_id=patient_id, site_id=OLD, session_id="s-1",
                          kind=SessionKind.INDIVIDUAL, modality=Modality.CBT,
                          starts_at=at_utc(10, 15), duration_minutes=50,
                          clinician_id="clin-7"), "sessions"),
    ]
    if together:  # as if one partition carried them all: the site is read once a batch
        async with notifications.acquire() as conn, conn.transaction():
            await projection.apply_all(conn, [
                (envelope(event, source), Position(topic_of(source), 0, n))
                for n, (event, source) in enumerate(consumed)])
    else:
        for event, source in consumed:
            await consume(notifications, projection, event, source)

    async with notifications.acquire() as conn:
        messages = await store.messages_for(conn, patient_id)
    welcome = [(m["site_id"], m["status"]) for m in messages if m["kind"] == "welcome"]
    alerts = {(m["site_id"], m["recipient_id"]) for m in messages if m["urgent"]}
    assert welcome and set(welcome) == {(OLD, "cancelled")}
    assert alerts and {site for site, _ in alerts} == {NEW}
    assert NEW in {recipient for _, recipient in alerts}  # the new site's clinicians
    assert await notifications.fetchval(
        "SELECT site_id FROM scheduled_sessions WHERE session_id = 's-1'") == NEW
    await rebuilds_identical(notifications_dsn, NOTIFICATIONS,
                             ["patients", "scheduled_sessions", *MESSAGE_TABLES])


@pytest.fixture
async def sessions_at(fresh_database: FreshDatabase
                      ) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    dsn, pool = await sessions_database_at(fresh_database)
    yield dsn, pool
    await pool.close()


@pytest.fixture
def sessions(sessions_at: tuple[str, asyncpg.Pool]) -> asyncpg.Pool:
    return sessions_at[1]


async def test_a_transfer_frees_the_old_sites_places_still_ahead(
    sessions_at: tuple[str, asyncpg.Pool],
) -> None:
    dsn, sessions = sessions_at
    projection = SESSIONS.consumer_projection()
    assert projection is not None
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for patient_id in (first, second):  # Monday's group has one place: the second waits
        await consume(sessions, projection, admission(patient_id), "intake")
    transfer = PatientTransferred(patient_id=first, site_id=NEW,
                                  from_site_id=sessions_helpers.SITE)
    made = envelope(transfer, "intake", at=at_utc(14, 12))  # week 3, before Monday's group
    async with sessions.acquire() as conn, conn.transaction():
        await projection.apply(conn, made, Position(topic_of("intake")))

    ahead = await sessions.fetch(
        "SELECT patient_id::text, status, waitlisted FROM patient_sessions"
        " WHERE starts_at > $1 AND starts_at < $2 AND group_id = 'g-mon'",
        at_utc(14, 12), at_utc(21, 0))
    by_patient = {row["patient_id"]: (row["status"], row["waitlisted"]) for row in ahead}
    assert by_patient[first][0] == "cancelled"
    assert by_patient[second] == ("scheduled", False)
    assert await sessions.fetchval(
        "SELECT site_id FROM enrollments WHERE patient_id = $1", first) == NEW
    await rebuilds_identical(dsn, SESSIONS, ["enrollments", "patient_sessions"])


async def rebuilds_identical(dsn: str, spec: ServiceSpec, tables: list[str]) -> None:
    """A rebuild projects the inbox as the consumer did: at the patient's site of the
    moment (the test's sites are written by hand, so only ``tables`` are compared), which
    its own map of patients' sites gives as a read of the table being rebuilt would."""
    with sites_read_back() as answers:
        rebuilt = await rebuild(dsn, spec.rebuild_sources(), check_only=True)
    assert {t: rebuilt.differences[t] for t in tables} == {t: (0, 0) for t in tables}
    assert answers and [mapped for mapped, _ in answers] == [read for _, read in answers]


@contextlib.contextmanager
def sites_read_back() -> Iterator[list[tuple[str | None, str | None]]]:
    """Each site a rebuild's map of patients' sites gives, with the shadow table's row."""
    answers: list[tuple[str | None, str | None]] = []
    mapped = SiteMap.site_of

    def read_back(sites: SiteMap) -> SiteOf:
        site_of = mapped(sites)

        async def checked(conn: Connection, patient_id: str, *,
                          for_transfer: bool = False) -> str | None:
            site = await site_of(conn, patient_id, for_transfer=for_transfer)
            answers.append((site, await conn.fetchval(
                f"SELECT site_id FROM {sites.table} WHERE patient_id = $1", patient_id)))
            return site

        return checked

    with patch.object(SiteMap, "site_of", read_back):
        yield answers


async def waiting_on_a_lock(pool: asyncpg.Pool, statement: str) -> bool:
    return bool(await pool.fetchval(
        "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND datname = current_database() AND query LIKE '%' || $1 || '%'", statement))


@pytest.mark.parametrize("first", ["event", "transfer"])
async def test_an_event_and_a_transfer_applied_at_once_take_turns(
    notifications: asyncpg.Pool, first: str,
) -> None:
    """Two partitions' transactions: a session scheduled at the old site and the transfer.
    Whichever takes the patient's row first, the session ends up at the new site (without
    the row lock, a row written at the old site while the transfer committed stayed
    there, hidden from the new site's key)."""
    projection = NOTIFICATIONS.consumer_projection()
    assert projection is not None
    patient_id = str(uuid.uuid4())
    await consume(notifications, projection, PatientReferred(
        patient_id=patient_id, site_id=OLD, referral_id="r-1", source=ReferralSource.SELF,
        referred_on=date(2026, 11, 20)), "intake")
    scheduled = envelope(SessionScheduled(
        patient_id=patient_id, site_id=OLD, session_id=f"s-{patient_id}",
        kind=SessionKind.INDIVIDUAL, modality=Modality.CBT, starts_at=at_utc(10, 15),
        duration_minutes=50, clinician_id="clin-7"), "sessions")
    transferred = envelope(PatientTransferred(patient_id=patient_id, site_id=NEW,
                                              from_site_id=OLD), "intake")
    order = [(scheduled, "sessions", "FOR SHARE"), (transferred, "intake", "NO KEY UPDATE")]
    if first == "transfer":
        order.reverse()
    (early, early_source, _), (late, late_source, late_lock) = order
    holder = await notifications.acquire()
    try:
        opened = holder.transaction()
        await opened.start()
        await projection.apply(holder, early, Position(topic_of(early_source)))

        async def apply_late() -> None:
            async with notifications.acquire() as conn, conn.transaction():
                await projection.apply(conn, late, Position(topic_of(late_source)))

        waiting = asyncio.create_task(apply_late())
        await eventually(lambda: waiting_on_a_lock(notifications, late_lock), timeout=30)
        await opened.commit()
        await waiting
    finally:
        await notifications.release(holder)
    assert await notifications.fetchval(
        "SELECT site_id FROM scheduled_sessions WHERE session_id = $1",
        f"s-{patient_id}") == NEW
