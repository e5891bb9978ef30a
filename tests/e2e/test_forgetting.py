"""A forgotten patient leaves no personal data in plain text: in no table of any service
and in no Kafka record.

The patient is given names, a support person, contact details and a plan note that
occur nowhere else, so finding any of them anywhere is a leak.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from iopctl.kafka_principals import admin_options
from iopctl.stack import Stack
from iopnet.topics import SERVICES, all_topics
from tests.conftest import eventually
from tests.e2e.client import Api
from tests.e2e.conftest import Site
from tests.e2e.journeys import NO_RISK, SEVERE_NO_ITEM9, assess
from tests.fixtures.dates import program_start

pytestmark = pytest.mark.e2e


def unheard_of(label: str) -> str:
    """A word that occurs nowhere but where this test puts it."""
    return f"{label}{uuid.uuid4().hex[:10]}"


async def known_patient(api: Api, words: dict[str, str]) -> str:
    referred = await api.post("intake", "/v1/referrals", json={"source": "provider", "patient": {
        "given_name": words["given"], "family_name": words["family"],
        "birth_date": "1990-04-02"}})
    assert referred.status_code == 201, referred.text
    patient_id: str = referred.json()["patient_id"]
    await assess(api, patient_id, "phq9", items=SEVERE_NO_ITEM9)
    await assess(api, patient_id, "cssrs", answers=NO_RISK)
    admitted = await api.post("intake", f"/v1/patients/{patient_id}/admission", json={
        "program_id": "iop-adult", "start_date": program_start().isoformat(),
        "days_per_week": 4, "planned_weeks": 10, "clinician_id": "clin-7"})
    assert admitted.status_code == 201, admitted.text
    return patient_id


async def everything_about(api: Api, patient_id: str, words: dict[str, str]) -> None:
    """A support person, contact details and a plan note, each in its own service."""

    async def known_to(service: str) -> bool:
        return (await api.get(service, f"/v1/patients/{patient_id}")).status_code == 200

    for service in ("plans", "family", "notifications"):
        await eventually(lambda s=service: known_to(s), timeout=15)  # type: ignore[misc]
    linked = await api.post("family", f"/v1/patients/{patient_id}/support-persons", json={
        "relationship": "partner", "given_name": words["support"], "family_name": "Example"})
    assert linked.status_code == 201, linked.text
    contact = await api.put("notifications", f"/v1/patients/{patient_id}/contact",
                            json={"email": f"{words['email']}@example.org"})
    assert contact.status_code in (200, 201), contact.text
    plan = await api.get("plans", f"/v1/patients/{patient_id}/plan")
    revised = await api.post("plans", f"/v1/patients/{patient_id}/plan/revisions", json={
        "changes": [{"change": "change_frequency", "intervention_id": "I1",
                     "sessions_per_week": 3}],
        "reason": "patient_preference", "note": f"prefers mornings {words['note']}"},
        headers={"If-Match": plan.headers["etag"]})
    assert revised.status_code == 201, revised.text


async def tables_holding(dsn: str, words: Sequence[str]) -> list[str]:
    """Every table of the database whose rows, as text, hold any of the words (``dsn``:
    the owner's, who sees every table and every site's rows)."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")
        holding = []
        for row in tables:
            name = row["table_name"]
            found = await conn.fetchval(
                f'SELECT count(*) FROM "{name}" AS t WHERE t::text ILIKE ANY($1::text[])',
                [f"%{w}%" for w in words])
            if found:
                holding.append(name)
        return holding
    finally:
        await conn.close()


async def kafka_records_holding(bootstrap: str, words: Sequence[str]) -> int:
    """How many records of this run's topics hold any of the words, in value or headers."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                **admin_options(bootstrap))
    await consumer.start()
    try:
        partitions = [TopicPartition(spec.name, p) for spec in all_topics()
                      for p in range(spec.partitions)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        holding = 0
        while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
            batches = await consumer.getmany(timeout_ms=1000, max_records=1000)
            for record in (r for records in batches.values() for r in records):
                raw = (record.value or b"") + b"".join(v for _, v in record.headers)
                holding += any(w.lower().encode() in raw.lower() for w in words)
        return holding
    finally:
        await consumer.stop()


async def forgotten_everywhere(api: Api, patient_id: str) -> bool:
    answers = [await api.get(s, f"/v1/patients/{patient_id}") for s in SERVICES]
    return all(a.status_code in (404, 410) for a in answers)


async def test_a_forgotten_patient_leaves_no_plain_text_behind(
    stack: Stack, operator: Api, north: Site,
) -> None:
    words = {k: unheard_of(k) for k in ("given", "family", "support", "email", "note")}
    patient_id = await known_patient(north.api, words)
    await everything_about(north.api, patient_id, words)
    before = {s: await tables_holding(stack.migration_url[s], list(words.values()))
              for s in SERVICES}
    assert all(before[s] for s in ("intake", "family", "notifications", "plans")), before

    refused = await operator.post("intake", f"/v1/patients/{patient_id}/forget",
                                  json={"reason": "patient's request (test)"})
    assert refused.status_code == 409, refused.text  # inside the retention period
    forgotten = await operator.post("intake", f"/v1/patients/{patient_id}/forget", json={
        "reason": "patient's erasure request, retention waived by counsel (test)",
        "override_retention": True})
    assert forgotten.status_code in (200, 202, 204), forgotten.text
    await eventually(lambda: forgotten_everywhere(north.api, patient_id), timeout=20)

    after: dict[str, Any] = {s: await tables_holding(stack.migration_url[s],
                                                     list(words.values())) for s in SERVICES}
    assert after == {s: [] for s in SERVICES}
    assert await kafka_records_holding(stack.kafka_bootstrap, list(words.values())) == 0
