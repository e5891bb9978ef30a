"""Sessions' ``/fhir/R4`` reads: the in-program measures (Observation) and the sessions
(Encounter)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from iopnet.auth import SiteDatabase, site_database
from iopnet.catalog import Scope
from iopnet.catalog.loinc import SCORES
from iopnet.db import Connection
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
from services.sessions import commands, store
from services.sessions.api.fhir import (
    OBSERVED,
    US_CORE_ENCOUNTER,
    encounter_resource,
    observation_resource,
)
from services.sessions.api.patients import READING
from services.sessions.domain import Enrollment

Reader = Annotated[SiteDatabase, Depends(site_database(Scope.READ))]
PATIENT = SearchParam("patient", "reference", "Patient/{id} or {id}")
SERVED = (
    ResourceSupport("Observation", [PATIENT, SearchParam("code", "token", "LOINC")],
                    [US_CORE_SCREENING_ASSESSMENT],
                    "The PHQ-9 (44261-6) and GAD-7 (70274-6) taken in the program"),
    ResourceSupport("Encounter", [PATIENT], [US_CORE_ENCOUNTER],
                    "The patient's place at each session, scheduled to attended"),
)
router = fhir_router("sessions", SERVED)


@router.get("/Observation/{observation_id}")
async def read_observation(observation_id: str, db: Reader) -> FhirResponse:
    async with db.transaction() as conn:
        measure_id = id_of(observation_id)
        patient_id = await store.measured_patient(conn, measure_id) if measure_id else None
        enrollment = await _enrollment(conn, patient_id) if patient_id else None
    found = [m for m in enrollment.measures if m.measure_id == measure_id] if enrollment else []
    if not found or found[0].instrument not in OBSERVED or patient_id is None:
        raise not_found("Observation", observation_id)
    return FhirResponse(observation_resource(patient_id, found[0]))


@router.get("/Observation")
async def search_observations(request: Request, db: Reader, patient: str | None = None,
                              code: str | None = None) -> FhirResponse:
    patient_id, codes = patient_of(patient), codes_of(code)
    wanted = {i for i in OBSERVED if codes is None or SCORES[i][0] in codes}
    async with db.transaction() as conn:
        enrollment = await _enrollment(conn, patient_id)
    measures = sorted(enrollment.measures, key=lambda m: m.measured_on) if enrollment else []
    return searchset(request, [observation_resource(patient_id, m) for m in measures
                               if m.instrument in wanted])


@router.get("/Encounter/{encounter_id}")
async def read_encounter(encounter_id: str, db: Reader) -> FhirResponse:
    place = None
    if known := id_of(encounter_id):
        async with db.transaction() as conn:
            place = await store.find_patient_session(conn, known)
    if place is None:
        raise not_found("Encounter", encounter_id)
    return FhirResponse(encounter_resource(place))


@router.get("/Encounter")
async def search_encounters(request: Request, db: Reader, patient: str | None = None
                            ) -> FhirResponse:
    patient_id = patient_of(patient)
    async with db.transaction() as conn:
        places = await store.patient_sessions(conn, patient_id)
    return searchset(request, [encounter_resource(p) for p in places])


async def _enrollment(conn: Connection, patient_id: str) -> Enrollment | None:
    """The enrollment as its stream tells it, when the caller's site sees it."""
    try:
        return await commands.enrollment_of(commands.unit_of_work(conn, READING), patient_id)
    except commands.UnknownPatient:
        return None
