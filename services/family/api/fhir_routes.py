"""Family's ``/fhir/R4`` reads: RelatedPerson and Consent."""

from __future__ import annotations

from fastapi import Request

from iopnet.db import Connection
from iopnet.fhir import (
    PATIENT_SEARCH,
    FhirResponse,
    Reader,
    ResourceSupport,
    fhir_router,
    read,
    search,
)
from services.family import store
from services.family.api.fhir import consent_resource, related_person_resource

SERVED = (
    ResourceSupport("RelatedPerson", [PATIENT_SEARCH], (), "The patient's support persons"),
    ResourceSupport("Consent", [PATIENT_SEARCH], (),
                    "The patient's consents to tell a support person, live or ended"),
)
router = fhir_router("family", SERVED)


@router.get("/RelatedPerson/{person_id}")
async def read_related_person(person_id: str, db: Reader) -> FhirResponse:
    async def find(conn: Connection, known: str) -> dict[str, object] | None:
        person = await store.find_support_person(conn, known)
        return related_person_resource(person) if person else None

    return await read(db, "RelatedPerson", person_id, find)


@router.get("/RelatedPerson")
async def search_related_persons(request: Request, db: Reader, patient: str | None = None
                                 ) -> FhirResponse:
    async def find(conn: Connection, patient_id: str) -> list[dict[str, object]]:
        return [related_person_resource(p) for p in await store.support_persons(conn,
                                                                               patient_id)]

    return await search(request, db, patient, find)


@router.get("/Consent/{consent_id}")
async def read_consent(consent_id: str, db: Reader) -> FhirResponse:
    async def find(conn: Connection, known: str) -> dict[str, object] | None:
        found = await store.consents_of(conn, consent_id=known)
        return consent_resource(found[0]) if found else None

    return await read(db, "Consent", consent_id, find)


@router.get("/Consent")
async def search_consents(request: Request, db: Reader, patient: str | None = None
                          ) -> FhirResponse:
    async def find(conn: Connection, patient_id: str) -> list[dict[str, object]]:
        return [consent_resource(c) for c in await store.consents_of(conn, patient_id)]

    return await search(request, db, patient, find)
