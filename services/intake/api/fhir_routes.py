"""Intake's ``/fhir/R4`` reads: Patient, and Observation for the initial assessments."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from iopnet.auth import SiteDatabase, site_database
from iopnet.catalog import Scope
from iopnet.catalog.loinc import SCORES
from iopnet.fhir import (
    FhirResponse,
    ResourceSupport,
    SearchParam,
    codes_of,
    fhir_router,
    id_of,
    not_found,
    patient_of,
    searchset,
)
from iopnet.fhir.documents import US_CORE_SCREENING_ASSESSMENT
from services.intake import store
from services.intake.api.fhir import (
    OBSERVED,
    US_CORE_PATIENT,
    observation_resource,
    patient_resource,
)

Reader = Annotated[SiteDatabase, Depends(site_database(Scope.READ))]
PATIENT = SearchParam("patient", "reference", "Patient/{id} or {id}")
SERVED = (
    ResourceSupport("Patient", [SearchParam("_id", "token")], [US_CORE_PATIENT]),
    ResourceSupport("Observation", [PATIENT, SearchParam("code", "token", "LOINC")],
                    [US_CORE_SCREENING_ASSESSMENT],
                    "The initial PHQ-9 (44261-6), GAD-7 (70274-6) and AUDIT-C (75626-2)"),
)
router = fhir_router("intake", SERVED)


@router.get("/Patient/{patient_id}")
async def read_patient(patient_id: str, db: Reader) -> FhirResponse:
    person = await _person(db, patient_id)
    if person is None:
        raise not_found("Patient", patient_id)
    return FhirResponse(patient_resource(person))


@router.get("/Patient")
async def search_patients(request: Request, db: Reader, _id: str | None = None
                          ) -> FhirResponse:
    person = await _person(db, patient_of(_id)) if _id is not None else None
    return searchset(request, [patient_resource(person)] if person else [])


@router.get("/Observation/{observation_id}")
async def read_observation(observation_id: str, db: Reader) -> FhirResponse:
    found = []
    if assessment_id := id_of(observation_id):
        async with db.transaction() as conn:
            found = await store.scored_assessments(conn, assessment_id=assessment_id,
                                                   instruments=OBSERVED)
    if not found:
        raise not_found("Observation", observation_id)
    return FhirResponse(observation_resource(found[0]))


@router.get("/Observation")
async def search_observations(request: Request, db: Reader, patient: str | None = None,
                              code: str | None = None) -> FhirResponse:
    patient_id, codes = patient_of(patient), codes_of(code)
    instruments = [i for i in OBSERVED if codes is None or SCORES[i][0] in codes]
    async with db.transaction() as conn:
        found = await store.scored_assessments(conn, patient_id, instruments=instruments)
    return searchset(request, [observation_resource(a) for a in found])


async def _person(db: SiteDatabase, patient_id: str) -> dict[str, Any] | None:
    if (known := id_of(patient_id)) is None:
        return None
    async with db.transaction() as conn:
        return await store.find_person(conn, known)
