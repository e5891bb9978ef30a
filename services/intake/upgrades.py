"""Rows the previous release (e079311) kept only in tables, recorded as private events.

Who each patient is (``patient_identities``) and the answers behind each
assessment (``assessments.responses``) go to the end of the patient's stream,
sealed with the patient's data key, in the order they were recorded. Each is
projected like a new event, so the rows stay and the case's version moves on.
On a new database there are no such rows and nothing happens.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from iopnet.eventstore import Cause, EventStore
from iopnet.migrate import DataUpgrade
from iopnet.unit_of_work import UnitOfWork
from services.intake import projections
from services.intake.domain import Identity, PatientCase
from services.intake.domain.private_events import (
    Answers,
    AssessmentAnswered,
    PatientIdentityRecorded,
)

NAME = "intake/identities_and_answers_as_events"
_CAUSE = Cause(correlation_id=NAME, causation_id=NAME)

_IDENTITIES = """
SELECT i.patient_id::text, i.site_id, i.given_name, i.family_name, i.birth_date
  FROM patient_identities i
 WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.stream_id = 'patient-' || i.patient_id
                      AND e.event_type = 'iopnet.PatientIdentityRecorded')
"""
_ANSWERS = """
SELECT a.assessment_id::text, a.patient_id::text, a.site_id, a.instrument, a.responses
  FROM assessments a
 WHERE a.responses IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM events e WHERE e.stream_id = 'patient-' || a.patient_id
                      AND e.event_type = 'iopnet.AssessmentAnswered'
                      AND e.envelope -> 'data' ->> 'assessment_id' = a.assessment_id::text)
 ORDER BY a.recorded_at
"""


async def identities_and_answers_as_events(conn: asyncpg.Connection) -> None:
    uow = UnitOfWork(conn, EventStore.of("intake"), _CAUSE, project=projections.project)
    for row in await conn.fetch(_IDENTITIES):
        await _record(uow, row, PatientIdentityRecorded(
            patient_id=row["patient_id"], site_id=row["site_id"],
            identity=Identity(given_name=row["given_name"], family_name=row["family_name"],
                              birth_date=row["birth_date"])))
    for row in await conn.fetch(_ANSWERS):
        await _record(uow, row, AssessmentAnswered(
            patient_id=row["patient_id"], site_id=row["site_id"],
            assessment_id=row["assessment_id"], instrument=row["instrument"],
            answers=Answers.model_validate(row["responses"])))


async def _record(uow: UnitOfWork, row: Any, event: PatientIdentityRecorded | AssessmentAnswered
                  ) -> None:
    case = await uow.load(PatientCase, row["patient_id"]) or PatientCase(row["patient_id"])
    case.record(event)  # a fact of the past, not a command: no rule to check
    await uow.save(case)


UPGRADES = (DataUpgrade(NAME.split("/", 1)[1], identities_and_answers_as_events),)
