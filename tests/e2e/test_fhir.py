"""The FHIR R4 reads on the running system: a patient's PHQ-9 history as Observations from
the services that own them (intake's initial assessment, sessions' weekly measures), the
care around it, and another site's key refused."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.episodeofcare import EpisodeOfCare
from fhir.resources.R4B.goal import Goal
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.relatedperson import RelatedPerson

from iopnet.fhir import FHIR_JSON
from iopnet.topics import SERVICES
from tests.conftest import eventually
from tests.e2e.client import Api
from tests.e2e.conftest import Site
from tests.e2e.journeys import (
    admit,
    drafted_plan,
    grant_consent,
    link_support_person,
    measure_phq9,
    phq9_items,
    set_up_program,
    wait_scheduled,
)
from tests.fixtures.dates import site_today

pytestmark = pytest.mark.e2e

PROGRAM = "fhir-e2e-iop"
PHQ9 = "http://loinc.org|44261-6"


async def fhir(api: Api, service: str, path: str, **params: str) -> Any:
    answer = await api.get(service, f"/fhir/R4/{path}", params=params)
    assert answer.status_code == 200, (service, path, answer.text)
    assert answer.headers["content-type"] == FHIR_JSON
    return answer.json()


async def searched(api: Api, service: str, resource: str, **params: str) -> list[Any]:
    bundle = await fhir(api, service, resource, **params)
    assert Bundle.model_validate(bundle).type == "searchset"
    return [entry["resource"] for entry in bundle.get("entry", [])]


async def test_a_patients_phq9_history_reads_as_fhir_observations(
        operator: Api, north: Site, south: Site) -> None:
    api = north.api
    await set_up_program(api, PROGRAM)
    patient_id = await admit(api, phq9=phq9_items(16), program_id=PROGRAM)
    await wait_scheduled(api, patient_id)
    weekly = await measure_phq9(api, patient_id, 14, site_today(), item9=1)

    patient = Patient.model_validate(await fhir(api, "intake", f"Patient/{patient_id}"))
    assert patient.id == patient_id and patient.name
    initial = await searched(api, "intake", "Observation", patient=f"Patient/{patient_id}",
                             code=PHQ9)
    in_program = await searched(api, "sessions", "Observation", patient=patient_id, code=PHQ9)
    history = [Observation.model_validate(o) for o in initial + in_program]
    assert [o.valueQuantity.value for o in history] == [16, 14]
    assert {o.subject.reference for o in history} == {f"Patient/{patient_id}"}
    assert {o.code.coding[0].code for o in history} == {"44261-6"}
    assert history[1].id == weekly["measure_id"]
    assert (await fhir(api, "sessions", f"Observation/{weekly['measure_id']}")
            ) == in_program[0]

    # The care around it, each from its owner: plans learns of the admission through Kafka.
    async def episode_opened() -> bool:
        return bool(await searched(api, "plans", "EpisodeOfCare", patient=patient_id))

    await eventually(episode_opened, timeout=20)
    episode = EpisodeOfCare.model_validate(
        await fhir(api, "plans", f"EpisodeOfCare/{patient_id}"))
    assert episode.status == "active"
    encounters = await searched(api, "sessions", "Encounter", patient=patient_id)
    assert encounters and {e["status"] for e in encounters} == {"planned"}
    first = Encounter.model_validate(
        await fhir(api, "sessions", f"Encounter/{encounters[0]['id']}"))
    assert first.subject.reference == f"Patient/{patient_id}"

    # Another site's key sees nothing of it: 404 for a read, an empty searchset.
    refused = {("intake", f"Patient/{patient_id}"),
               ("intake", f"Observation/{initial[0]['id']}"),
               ("sessions", f"Observation/{weekly['measure_id']}"),
               ("sessions", f"Encounter/{encounters[0]['id']}"),
               ("plans", f"EpisodeOfCare/{patient_id}")}
    for service, path in refused:
        answer = await south.api.get(service, f"/fhir/R4/{path}")
        assert answer.status_code == 404, (service, path)
        assert answer.headers["content-type"] == FHIR_JSON
        assert OperationOutcome.model_validate(answer.json()).issue[0].code == "not-found"
    for service in ("intake", "sessions"):
        assert await searched(south.api, service, "Observation", patient=patient_id) == []

    # Each read is in the audit trail, the refused ones included.
    async def audited() -> bool:
        trail = (await operator.get("sessions", "/v1/audit",
                                    params={"key_id": south.key_id, "limit": 50})).json()
        return ("GET /fhir/R4/Observation/{observation_id}", 404) in {
            (row["action"], row["outcome"]) for row in trail}

    await eventually(audited, timeout=10)


async def test_the_plan_and_the_family_circle_read_as_fhir(north: Site, south: Site) -> None:
    api = north.api
    patient_id = await admit(api, phq9=phq9_items(18))
    await drafted_plan(api, patient_id)
    person = await link_support_person(api, patient_id, relationship="parent")
    consent_id = await grant_consent(api, patient_id, person, "schedule")

    [careplan] = await searched(api, "plans", "CarePlan", patient=patient_id)
    assert CarePlan.model_validate(careplan).status == "active"
    assert await fhir(api, "plans", f"CarePlan/{careplan['id']}") == careplan
    goals = await searched(api, "plans", "Goal", patient=f"Patient/{patient_id}")
    assert [f"Goal/{g['id']}" for g in goals] == [r["reference"] for r in careplan["goal"]]
    goal = Goal.model_validate(await fhir(api, "plans", f"Goal/{goals[0]['id']}"))
    assert goal.subject.reference == f"Patient/{patient_id}"

    related = RelatedPerson.model_validate(await fhir(api, "family", f"RelatedPerson/{person}"))
    assert related.relationship[0].coding[0].code == "PRN"
    [consent] = await searched(api, "family", "Consent", patient=patient_id)
    assert Consent.model_validate(consent).status == "active" and consent["id"] == consent_id
    assert await fhir(api, "family", f"Consent/{consent_id}") == consent

    for service, path in (("plans", f"CarePlan/{careplan['id']}"),
                          ("plans", f"Goal/{goals[0]['id']}"),
                          ("family", f"RelatedPerson/{person}"),
                          ("family", f"Consent/{consent_id}")):
        assert (await south.api.get(service, f"/fhir/R4/{path}")).status_code == 404, path
    assert await searched(south.api, "family", "Consent", patient=patient_id) == []


async def test_each_service_states_what_it_serves(operator: Api) -> None:
    served = {}
    for service in SERVICES:
        if service == "notifications":
            continue
        answer = await operator.with_key(None).get(service, "/fhir/R4/metadata")
        statement = CapabilityStatement.model_validate(answer.json())
        served[service] = {r.type for r in statement.rest[0].resource}
    assert served == {"intake": {"Patient", "Observation"},
                      "plans": {"EpisodeOfCare", "CarePlan", "Goal"},
                      "sessions": {"Observation", "Encounter"},
                      "family": {"RelatedPerson", "Consent"}}


async def test_without_a_key_fhir_answers_an_operation_outcome(operator: Api) -> None:
    answer = await operator.with_key(None).get("plans", "/fhir/R4/CarePlan",
                                               params={"patient": "x"})
    assert answer.status_code == 401 and answer.headers["content-type"] == FHIR_JSON
    assert OperationOutcome.model_validate(answer.json()).issue[0].code == "login"
