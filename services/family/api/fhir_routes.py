"""Family's ``/fhir/R4`` reads: RelatedPerson and Consent."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from iopnet.auth import SiteDatabase, site_database
from iopnet.catalog import Scope
from iopnet.fhir import (
    FhirResponse,
    ResourceSupport,
    SearchParam,
    fhir_router,
    id_of,
    not_found,
    patient_of,
    searchset,
)
from services.family import store
from services.family.api.fhir import consent_resource, related_person_resource

Reader = Annotated[SiteDatabase, Depends(site_database(Scope.READ))]
PATIENT = SearchParam("patient", "reference", "Patient/{id} or {id}")
SERVED = (
    ResourceSupport("RelatedPerson", [PATIENT], (), "The patient's support persons"),
    ResourceSupport("Consent", [PATIENT], (),
                    "The patient's consents to tell a support person, live or ended"),
)
router = fhir_router("family", SERVED)


@router.get("/RelatedPerson/{person_id}")
async def read_related_person(person_id: str, db: Reader) -> FhirResponse:
    person = None
    if known := id_of(person_id):
        async with db.transaction() as conn:
            person = await store.find_support_person(conn, known)
    if person is None:
        raise not_found("RelatedPerson", person_id)
    return FhirResponse(related_person_resource(person))


@router.get("/RelatedPerson")
async def search_related_persons(request: Request, db: Reader, patient: str | None = None
                                 ) -> FhirResponse:
    patient_id = patient_of(patient)
    async with db.transaction() as conn:
        persons = await store.support_persons(conn, patient_id)
    return searchset(request, [related_person_resource(p) for p in persons])


@router.get("/Consent/{consent_id}")
async def read_consent(consent_id: str, db: Reader) -> FhirResponse:
    found = []
    if known := id_of(consent_id):
        async with db.transaction() as conn:
            found = await store.consents_of(conn, consent_id=known)
    if not found:
        raise not_found("Consent", consent_id)
    return FhirResponse(consent_resource(found[0]))


@router.get("/Consent")
async def search_consents(request: Request, db: Reader, patient: str | None = None
                          ) -> FhirResponse:
    patient_id = patient_of(patient)
    async with db.transaction() as conn:
        consents = await store.consents_of(conn, patient_id)
    return searchset(request, [consent_resource(c) for c in consents])
