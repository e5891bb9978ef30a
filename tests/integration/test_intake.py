"""Intake on the real Postgres: every fact an event, tables rebuilt from them, a patient
forgotten, and a database of the previous release brought to this one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from iopnet import data_keys
from iopnet.app import create_app
from iopnet.auth.guard import OPERATOR_KEY_ENV
from iopnet.auth.keys import new_key
from iopnet.catalog import parse_event
from iopnet.db import create_pool
from iopnet.eventstore import Cause, EventStore
from services.intake import commands, projections
from services.intake.domain import ForgettingOrder
from services.intake.service import SPEC
from services.intake.settings import IntakeSettings
from tests.conftest import FreshDatabase
from tests.e2e.journeys import NO_RISK
from tests.fixtures.dates import program_start
from tests.fixtures.infra import Endpoints

pytestmark = pytest.mark.integration

NAME = "Adalinde"
ADMISSION = {"program_id": "iop-adult", "start_date": program_start().isoformat(),
             "days_per_week": 4, "planned_weeks": 10, "clinician_id": "clin-7"}


@dataclass
class Intake:
    pool: asyncpg.Pool
    operator: httpx.AsyncClient
    north: httpx.AsyncClient

    async def refer(self, given_name: str = NAME) -> str:
        answer = await self.north.post("/v1/referrals", json={"source": "provider", "patient": {
            "given_name": given_name, "family_name": "Quist", "birth_date": "1990-04-02"}})
        assert answer.status_code == 201, answer.text
        patient_id: str = answer.json()["patient_id"]
        return patient_id

    async def assess(self, patient_id: str, phq9: list[int]) -> None:
        for body in ({"instrument": "phq9", "items": phq9},
                     {"instrument": "cssrs", "answers": NO_RISK}):
            answer = await self.north.post(f"/v1/patients/{patient_id}/assessments", json=body)
            assert answer.status_code == 201, answer.text

    async def tables_holding(self, text: str) -> list[str]:
        """Every table with a row whose plain text contains ``text``."""
        async with self.pool.acquire() as conn:
            tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            return [t["tablename"] for t in tables if await conn.fetchval(
                f"SELECT count(*) FROM {t['tablename']} r WHERE r::text ILIKE $1",
                f"%{text}%")]


@pytest.fixture
async def intake(fresh_database: FreshDatabase, infra: Endpoints,
                 monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Intake]:
    operator_key = new_key().plaintext
    monkeypatch.setenv(OPERATOR_KEY_ENV, operator_key)
    dsn = await fresh_database("intake")
    await SPEC.migrate(dsn)
    pool = await create_pool(dsn)
    app = create_app(SPEC, IntakeSettings(database_url=dsn, kafka_bootstrap=infra.kafka_bootstrap))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=transport, base_url="http://intake",
        headers={"Authorization": f"Bearer {operator_key}"},
    ) as operator:
        for site in ("site-north", "site-south"):
            onboarded = await operator.post("/v1/network/sites", json={
                "site_id": site, "name": site, "time_zone": "America/Chicago"})
            assert onboarded.status_code == 201, onboarded.text
        issued = await operator.post("/v1/network/sites/site-north/keys",
                                     json={"scopes": ["read", "intake:write"]})
        async with httpx.AsyncClient(
            transport=transport, base_url="http://intake",
            headers={"Authorization": f"Bearer {issued.json()['api_key']}"},
        ) as north:
            yield Intake(pool, operator, north)
    await pool.close()


async def test_identity_and_answers_are_sealed_events_and_the_decision_comes_from_them(
    intake: Intake,
) -> None:
    patient_id = await intake.refer()
    await intake.assess(patient_id, [1] * 8 + [0])  # PHQ-9 8: standard outpatient
    await intake.assess(patient_id, [2] * 8 + [0])  # answered again: 16, IOP
    admitted = await intake.north.post(f"/v1/patients/{patient_id}/admission", json=ADMISSION)
    assert admitted.status_code == 201, admitted.text
    # referred and identified, twice two instruments with their answers, admitted
    assert admitted.json()["version"] == 2 + 2 * 4 + 1
    assert admitted.json() == (await intake.north.get(f"/v1/patients/{patient_id}")).json()
    assert await intake.tables_holding(NAME) == ["patient_identities"]
    async with intake.pool.acquire() as conn:
        kinds = await conn.fetch("SELECT event_type, published FROM events"
                                 " WHERE stream_id = $1 ORDER BY stream_version",
                                 f"patient-{patient_id}")
        answers = await conn.fetch("SELECT responses FROM assessments WHERE patient_id = $1"
                                   " ORDER BY recorded_at", patient_id)
    private = [k["event_type"] for k in kinds if not k["published"]]
    assert private == ["iopnet.PatientIdentityRecorded"] + ["iopnet.AssessmentAnswered"] * 4
    assert answers[2]["responses"]["items"] == [2] * 8 + [0]


async def test_the_tables_are_rebuilt_from_the_events_alone(intake: Intake) -> None:
    """A forgotten patient stays forgotten: sealed data replays as nothing."""
    forgotten = await intake.refer("Forgetta")
    await intake.assess(forgotten, [1] * 9)
    assert (await intake.operator.post(f"/v1/patients/{forgotten}/forget", json={
        "reason": "erasure request", "override_retention": True})).status_code == 200
    patient_id = await intake.refer()
    await intake.assess(patient_id, [2] * 8 + [0])
    await intake.north.post(f"/v1/patients/{patient_id}/admission", json=ADMISSION)
    moved = await intake.operator.post(f"/v1/patients/{patient_id}/transfer",
                                       json={"to_site_id": "site-south"})
    assert moved.status_code == 200, moved.text

    async def rows() -> list[list[asyncpg.Record]]:
        # sites.updated_at is the shared registry's now(), not the event's: left out
        sites = await intake.pool.fetch("SELECT site_id, name, time_zone, policies FROM sites"
                                        " ORDER BY 1")
        return [sites, *[await intake.pool.fetch(f"SELECT * FROM {table} ORDER BY 1")
                         for table in ("api_keys", *projections.PATIENT_TABLES)]]

    before = await rows()
    async with intake.pool.acquire() as conn, conn.transaction():
        await conn.execute("TRUNCATE sites, api_keys, patients, patient_identities, assessments")
        # stream by stream: read_all waits for every transaction in flight on the
        # (shared) server, and no table of intake's spans two streams
        streams = await conn.fetch("SELECT stream_id FROM events GROUP BY stream_id"
                                   " ORDER BY min(global_position)")
        for stream in streams:
            for envelope in await EventStore.of("intake").read_stream(conn, stream["stream_id"]):
                await projections.project(conn, parse_event(envelope), envelope)
    assert await rows() == before
    assert await intake.tables_holding("Forgetta") == []


async def test_forgetting_is_refused_inside_retention_unless_overridden(intake: Intake) -> None:
    patient_id = await intake.refer()
    await intake.assess(patient_id, [2] * 8 + [0])
    forget = f"/v1/patients/{patient_id}/forget"
    refused = await intake.operator.post(forget, json={"reason": "asked to be forgotten"})
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    kept_until = (datetime.now(UTC) + timedelta(days=6 * 365)).date().year
    assert f"kept until {kept_until}" in refused.json()["detail"]
    assert (await intake.north.post(forget, json={"reason": "x"})).status_code == 403
    assert (await intake.operator.post(forget, json={"reason": ""})).json()["errors"][0][
        "pointer"] == "#/reason"

    body = {"reason": "court order 12-345", "override_retention": True}
    forgotten = await intake.operator.post(forget, json=body)
    assert forgotten.status_code == 200, forgotten.text
    assert forgotten.json() == {"patient_id": patient_id, "forgotten": True,
                                "retention_overridden": True}
    assert (await intake.operator.post(forget, json=body)).json() == forgotten.json()
    await assert_forgotten(intake, patient_id)
    async with intake.pool.acquire() as conn:
        ordered = await conn.fetchval(
            "SELECT envelope -> 'data' FROM events WHERE event_type = 'iopnet.ForgettingOrdered'")
        published = await conn.fetch("SELECT envelope ->> 'type' AS type FROM outbox"
                                     " WHERE envelope ->> 'subject' = $1", patient_id)
    assert ordered["reason"] == "court order 12-345" and ordered["retention_overridden"]
    assert "iopnet.PatientForgotten" in [row["type"] for row in published]


async def test_a_patient_past_retention_is_forgotten_without_override(intake: Intake) -> None:
    patient_id = await intake.refer()
    later = datetime.now(UTC) + timedelta(days=6 * 366)
    async with intake.pool.acquire() as conn, conn.transaction():
        uow = commands.unit_of_work(conn, EventStore.of("intake"), Cause("c", "c"))
        case = await commands.forget(uow, patient_id, ForgettingOrder("retention over", "op"),
                                     later)
    assert case.forgotten and not case.retention_overridden
    await assert_forgotten(intake, patient_id)


async def assert_forgotten(intake: Intake, patient_id: str) -> None:
    """Nothing personal left in plain text; the patient is unknown to every route."""
    assert await intake.tables_holding(NAME) == []
    async with intake.pool.acquire() as conn:
        assert await data_keys.is_forgotten(conn, patient_id)
        for table in projections.PATIENT_TABLES:
            assert not await conn.fetchval(
                f"SELECT count(*) FROM {table} WHERE patient_id = $1", patient_id)
    for path in ("", "/assessments", "/recommendation"):
        assert (await intake.north.get(f"/v1/patients/{patient_id}{path}")).status_code == 404
    again = await intake.north.post(f"/v1/patients/{patient_id}/assessments",
                                    json={"instrument": "phq9", "items": [0] * 9})
    assert again.status_code == 404
