"""A database intake's previous release (e079311) wrote: its identities and answers become
sealed private events, and the case decides from them."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import pytest

from iopctl.stack import spec_of
from iopnet.catalog import (
    AssessmentRecorded,
    DomainEvent,
    Instrument,
    PatientReferred,
    ReferralSource,
)
from iopnet.db import connect
from iopnet.eventstore import Cause, EventStore
from services.intake import commands
from services.intake.domain import Admission, PatientCase, Responses, Scored
from tests.conftest import FreshDatabase
from tests.e2e.journeys import NO_RISK
from tests.fixtures import previous_release
from tests.fixtures.dates import program_start, site_today

pytestmark = pytest.mark.integration

SITE = "site-north"
#: Inside the PHQ-9's window, so the upgraded answers can still inform a decision.
ON = site_today("UTC") - timedelta(days=2)
STORE = EventStore.of("intake")


async def referred_by_the_previous_release(conn: asyncpg.Connection, answers: list[Responses]
                                           ) -> str:
    """What e079311's referral and assessment routes wrote: rows, and events without them."""
    patient_id, referral_id = str(uuid.uuid4()), str(uuid.uuid4())
    events: list[DomainEvent] = [PatientReferred(
        patient_id=patient_id, site_id=SITE, referral_id=referral_id,
        source=ReferralSource.PROVIDER, referred_on=ON)]
    await conn.execute(
        "INSERT INTO patient_identities (patient_id, site_id, given_name, family_name,"
        " birth_date) VALUES ($1, $2, 'Wilhelmina', 'Oldrow', '1980-05-06')", patient_id, SITE)
    for responses in answers:
        scored, assessment_id = Scored.of(responses), str(uuid.uuid4())
        events.append(AssessmentRecorded(
            patient_id=patient_id, site_id=SITE, assessment_id=assessment_id,
            instrument=responses.instrument, total=scored.result.total,
            band=scored.result.band.value, positive=False, assessed_on=ON))
        await conn.execute(
            "INSERT INTO assessments (assessment_id, patient_id, site_id, instrument, responses,"
            " total, band, assessed_on) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            assessment_id, patient_id, SITE, responses.instrument.value,
            {"items": responses.items, "answers": responses.answers, "sex_at_birth": None},
            scored.result.total, scored.result.band.value, ON)
    await previous_release.append_as_that_release(conn, STORE, f"patient-{patient_id}", events)
    await conn.execute(
        "INSERT INTO patients (patient_id, site_id, status, referral_id, referral_source,"
        " referred_on, version) VALUES ($1, $2, 'referred', $3, 'provider', $4, $5)",
        patient_id, SITE, referral_id, ON, len(events))
    return patient_id


async def test_identities_and_answers_of_the_previous_release_become_sealed_events(
    fresh_empty_database: FreshDatabase,
) -> None:
    dsn = await fresh_empty_database("upgrade_intake_rows")
    await previous_release.build_database(dsn, "intake")
    conn = await connect(dsn)
    try:
        stale = Responses(Instrument.PHQ9, items=[1] * 8 + [0])  # 8: standard outpatient
        newest = Responses(Instrument.PHQ9, items=[2] * 8 + [0])  # 16: IOP
        patient_id = await referred_by_the_previous_release(
            conn, [stale, Responses(Instrument.CSSRS, answers=NO_RISK), newest])

        applied = await spec_of("intake").migrate(dsn)
        assert "upgrade/identities_and_answers_as_events" in applied

        kinds = [row["event_type"] for row in await conn.fetch(
            "SELECT event_type FROM events WHERE NOT published ORDER BY global_position")]
        assert kinds == ["iopnet.PatientIdentityRecorded"] + ["iopnet.AssessmentAnswered"] * 3
        assert "Wilhelmina" not in await conn.fetchval(
            "SELECT string_agg(envelope::text, '') FROM events")
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
        assert await conn.fetchval("SELECT version FROM patients WHERE patient_id = $1",
                                   patient_id) == 8
        assert await spec_of("intake").migrate(dsn) == []

        async with conn.transaction():
            uow = commands.unit_of_work(conn, STORE, Cause("c", "c"))
            case = await uow.load(PatientCase, patient_id)
            assert case is not None and case.initial_assessment(site_today("UTC")).phq9.total == 16
            admitted = await commands.admit(uow, patient_id, Admission(
                "iop-adult", program_start(), 4, 10, "clin-7"), None)
        assert admitted.version == 9
        assert await conn.fetchval("SELECT status FROM patients WHERE patient_id = $1",
                                   patient_id) == "admitted"
        stream = await STORE.read_stream(conn, f"patient-{patient_id}")
        [identity] = [e for e in stream if e.type == "iopnet.PatientIdentityRecorded"]
        assert identity.data["identity"]["given_name"] == "Wilhelmina"
    finally:
        await conn.close()
