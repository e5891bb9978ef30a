"""Sessions' ``/fhir/R4`` reads: the in-program measures (Observation) and the sessions
(Encounter)."""

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
from services.sessions import commands, store
from services.sessions.api.fhir import (
    OBSERVED,
    US_CORE_ENCOUNTER,
    encounter_resource,
    observation_resource,
)
from services.sessions.api.patients import READING
from services.sessions.domain import Enrollment

SERVED = (
    ResourceSupport("Observation", [PATIENT_SEARCH, SearchParam("code", "token", "LOINC")],
                    [US_CORE_SCREENING_ASSESSMENT],
                    "The PHQ-9 (44261-6) and GAD-7 (70274-6) taken in the program"),
    ResourceSupport("Encounter", [PATIENT_SEARCH], [US_CORE_ENCOUNTER],
                    "The patient's place at each session, scheduled to attended"),
)
router = fhir_router("sessions", SERVED)


@router.get("/Observation/{observation_id}")
async def read_observation(observation_id: str, db: Reader) -> FhirResponse:
    async def find(conn: Connection, measure_id: str) -> dict[str, object] | None:
        patient_id = await store.measured_patient(conn, measure_id)
        enrollment = await _enrollment(conn, patient_id) if patient_id else None
        if patient_id is None or enrollment is None:
            return None
        found = [m for m in enrollment.measures
                 if m.measure_id == measure_id and m.instrument in OBSERVED]
        return observation_resource(patient_id, found[0]) if found else None

    return await read(db, "Observation", observation_id, find)


@router.get("/Observation")
async def search_observations(request: Request, db: Reader, patient: str | None = None,
                              code: str | None = None) -> FhirResponse:
    codes = codes_of(code)
    wanted = {i for i in OBSERVED if codes is None or SCORES[i][0] in codes}

    async def find(conn: Connection, patient_id: str) -> list[dict[str, object]]:
        enrollment = await _enrollment(conn, patient_id)
        if enrollment is None:
            return []
        return [observation_resource(patient_id, m)
                for m in sorted(enrollment.measures, key=lambda m: m.measured_on)
                if m.instrument in wanted]

    return await search(request, db, patient, find)


@router.get("/Encounter/{encounter_id}")
async def read_encounter(encounter_id: str, db: Reader) -> FhirResponse:
    async def find(conn: Connection, known: str) -> dict[str, object] | None:
        place = await store.find_patient_session(conn, known)
        return encounter_resource(place) if place else None

    return await read(db, "Encounter", encounter_id, find)


@router.get("/Encounter")
async def search_encounters(request: Request, db: Reader, patient: str | None = None
                            ) -> FhirResponse:
    async def find(conn: Connection, patient_id: str) -> list[dict[str, object]]:
        return [encounter_resource(p) for p in await store.patient_sessions(conn, patient_id)]

    return await search(request, db, patient, find)


async def _enrollment(conn: Connection, patient_id: str) -> Enrollment | None:
    """The enrollment as its stream tells it, when the caller's site sees it."""
    try:
        return await commands.enrollment_of(commands.unit_of_work(conn, READING), patient_id)
    except commands.UnknownPatient:
        return None
