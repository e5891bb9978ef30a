"""Intake's ``/fhir/R4`` reads: Patient, and Observation for the initial assessments."""

from __future__ import annotations

from fastapi import Request

from iopnet.catalog.loinc import SCORES
from iopnet.db import Connection
from iopnet.fhir import (
    PATIENT_SEARCH,
    FhirResponse,
    Reader,
    ResourceSupport,
    SearchParam,
    codes_of,
    fhir_router,
    read,
    search,
)
from iopnet.fhir.documents import US_CORE_SCREENING_ASSESSMENT
from services.intake import store
from services.intake.api.fhir import (
    OBSERVED,
    US_CORE_PATIENT,
    observation_resource,
    patient_resource,
)

SERVED = (
    ResourceSupport("Patient", [SearchParam("_id", "token")], [US_CORE_PATIENT]),
    ResourceSupport("Observation", [PATIENT_SEARCH, SearchParam("code", "token", "LOINC")],
                    [US_CORE_SCREENING_ASSESSMENT],
                    "The initial PHQ-9 (44261-6), GAD-7 (70274-6) and AUDIT-C (75626-2)"),
)
router = fhir_router("intake", SERVED)


async def _patient(conn: Connection, patient_id: str) -> dict[str, object] | None:
    person = await store.find_person(conn, patient_id)
    return patient_resource(person) if person else None


@router.get("/Patient/{patient_id}")
async def read_patient(patient_id: str, db: Reader) -> FhirResponse:
    return await read(db, "Patient", patient_id, _patient)


@router.get("/Patient")
async def search_patients(request: Request, db: Reader, _id: str | None = None
                          ) -> FhirResponse:
    """``_id`` is the one search a Patient has here: the patient is the search."""
    async def find(conn: Connection, patient_id: str) -> list[dict[str, object]]:
        found = await _patient(conn, patient_id)
        return [found] if found else []

    return await search(request, db, _id, find, param="_id")


@router.get("/Observation/{observation_id}")
async def read_observation(observation_id: str, db: Reader) -> FhirResponse:
    async def find(conn: Connection, assessment_id: str) -> dict[str, object] | None:
        found = await store.scored_assessments(conn, assessment_id=assessment_id,
                                               instruments=OBSERVED)
        return observation_resource(found[0]) if found else None

    return await read(db, "Observation", observation_id, find)


@router.get("/Observation")
async def search_observations(request: Request, db: Reader, patient: str | None = None,
                              code: str | None = None) -> FhirResponse:
    codes = codes_of(code)
    instruments = [i for i in OBSERVED if codes is None or SCORES[i][0] in codes]

    async def find(conn: Connection, patient_id: str) -> list[dict[str, object]]:
        return [observation_resource(a) for a in
                await store.scored_assessments(conn, patient_id, instruments=instruments)]

    return await search(request, db, patient, find)
