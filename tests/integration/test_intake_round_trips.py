"""An intake write's transaction in few round trips: the case, whether the caller's site
sees it and its site's time zone in one statement; the events, their outbox rows and the
projection of the save in one more. A stale save projects nothing."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from datetime import date
from typing import TypeVar

import pytest
from asyncpg.connection import LoggedQuery

from iopnet.catalog import Instrument, ReferralSource
from iopnet.db import Connection
from iopnet.eventstore import Cause, ConcurrencyConflict, EventStore
from iopnet.unit_of_work import UnitOfWork
from services.intake import commands
from services.intake.domain import Admission, Identity, PatientCase, Responses, Scored
from tests.e2e.journeys import NO_RISK
from tests.fixtures.dates import program_start
from tests.integration.test_intake import ADMISSION, Intake, intake  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

T = TypeVar("T")
EVENTS = EventStore.of("intake")
PHQ9 = Scored.of(Responses(Instrument.PHQ9, [2] * 8 + [0], None, None))
CSSRS = Scored.of(Responses(Instrument.CSSRS, None, NO_RISK, None))
ADMITTED = Admission(**{**ADMISSION, "start_date": program_start()})


async def counted(conn: Connection, command: Awaitable[T]) -> tuple[T, list[str]]:
    """What the command returns, and the statements it sent on ``conn``."""
    sent: list[str] = []

    def log(query: LoggedQuery) -> None:
        sent.append(query.query)

    conn.add_query_logger(log)
    try:
        return await command, sent
    finally:
        conn.remove_query_logger(log)


def unit_of_work(conn: Connection) -> UnitOfWork:
    return commands.unit_of_work(conn, EVENTS, Cause(str(uuid.uuid4()), str(uuid.uuid4())))


async def test_a_write_reads_its_case_once_and_records_and_projects_it_in_one_statement(
    intake: Intake,  # noqa: F811
) -> None:
    async with intake.pool.acquire() as conn:
        async with conn.transaction():
            case, sent = await counted(conn, commands.refer(
                unit_of_work(conn), "site-north", ReferralSource.PROVIDER, None,
                Identity(given_name="Ada", family_name="Quist", birth_date=date(1990, 4, 2))))
        assert len(sent) == 3, sent  # the site's zone, the new data key, the append
        for scored in (PHQ9, CSSRS):
            async with conn.transaction():
                _, sent = await counted(conn, commands.record_assessment(
                    unit_of_work(conn), case.id, scored, None, None))
            assert len(sent) == 2, sent  # the case (visible, its site's zone), the append
        async with conn.transaction():
            admitted, sent = await counted(conn, commands.admit(
                unit_of_work(conn), case.id, ADMITTED, None, None,
                commands.CertificationOrder("dr-rao", ["F33.1"])))
        assert len(sent) == 2, sent
        patient = await conn.fetchrow(
            "SELECT status, version, certified_by FROM patients WHERE patient_id = $1", case.id)
        answered = await conn.fetchval(
            "SELECT count(*) FROM assessments WHERE patient_id = $1 AND responses IS NOT NULL",
            case.id)
    assert dict(patient) == {"status": "admitted", "version": admitted.version,
                             "certified_by": "dr-rao"}
    assert answered == 2


async def test_a_stale_save_writes_none_of_its_projection(
    intake: Intake,  # noqa: F811
) -> None:
    patient_id = await intake.refer()
    async with (intake.pool.acquire() as late, intake.pool.acquire() as first,
                late.transaction()):
        uow = unit_of_work(late)
        case = await uow.load(PatientCase, patient_id, visible_in="patients")
        assert case is not None
        today = await uow.site_date(case.site_id)
        case.record_assessment(str(uuid.uuid4()), PHQ9, today, today)
        async with first.transaction():
            await commands.record_assessment(unit_of_work(first), patient_id, PHQ9,
                                             None, None)
        with pytest.raises(ConcurrencyConflict):
            await uow.save(case)
        # still in the stale save's transaction: nothing of it was written
        assessments = await late.fetchval(
            "SELECT count(*) FROM assessments WHERE patient_id = $1", patient_id)
        version = await late.fetchval(
            "SELECT version FROM patients WHERE patient_id = $1", patient_id)
    assert assessments == 1
    assert version == case.version + 2  # the first save's two events, not the late one's
