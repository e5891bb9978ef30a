"""Intake's /fhir/R4 on the real Postgres: the same keys, site isolation and audit trail
as its REST reads, errors as OperationOutcome."""

from __future__ import annotations

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient

from iopnet.fhir import FHIR_JSON
from tests.integration.test_intake import Intake, intake

pytestmark = pytest.mark.integration
__all__ = ["intake"]  # the fixture


async def south_key(intake: Intake) -> str:
    issued = await intake.operator.post("/v1/network/sites/site-south/keys",
                                        json={"scopes": ["read"]})
    assert issued.status_code == 201, issued.text
    key: str = issued.json()["api_key"]
    return key


async def test_a_patient_and_the_phq9_read_as_fhir_by_its_site_only(intake: Intake) -> None:
    patient_id = await intake.refer()
    await intake.assess(patient_id, [2] * 8 + [1])
    answer = await intake.north.get(f"/fhir/R4/Patient/{patient_id}")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == FHIR_JSON
    assert Patient.model_validate(answer.json()).name[0].family == "Quist"

    found = await intake.north.get("/fhir/R4/Observation",
                                   params={"patient": f"Patient/{patient_id}",
                                           "code": "http://loinc.org|44261-6"})
    bundle = Bundle.model_validate(found.json())
    assert bundle.type == "searchset" and bundle.total == 1
    observation = found.json()["entry"][0]["resource"]
    assert observation["valueQuantity"]["value"] == 17
    read = await intake.north.get(f"/fhir/R4/Observation/{observation['id']}")
    assert read.json() == observation
    gad7 = await intake.north.get("/fhir/R4/Observation",
                                  params={"patient": patient_id, "code": "70274-6"})
    assert gad7.json()["total"] == 0

    transport = intake.north._transport
    async with httpx.AsyncClient(transport=transport, base_url="http://intake", headers={
            "Authorization": f"Bearer {await south_key(intake)}"}) as south:
        for path in (f"/fhir/R4/Patient/{patient_id}",
                     f"/fhir/R4/Observation/{observation['id']}"):
            refused = await south.get(path)
            assert refused.status_code == 404, path
            assert refused.headers["content-type"] == FHIR_JSON
            assert OperationOutcome.model_validate(refused.json()).issue[0].code == "not-found"
        nothing = await south.get("/fhir/R4/Observation", params={"patient": patient_id})
        assert nothing.status_code == 200 and nothing.json()["total"] == 0

    trail = (await intake.operator.get("/v1/audit", params={"limit": 20})).json()
    reads = {(row["action"], row["resource"], row["outcome"]) for row in trail}
    assert ("GET /fhir/R4/Patient/{patient_id}", f"/fhir/R4/Patient/{patient_id}", 200) in reads
    assert ("GET /fhir/R4/Patient/{patient_id}", f"/fhir/R4/Patient/{patient_id}", 404) in reads


async def test_fhir_errors_are_operation_outcomes(intake: Intake) -> None:
    anonymous = await intake.north.get("/fhir/R4/Patient/x", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == FHIR_JSON
    assert anonymous.headers["www-authenticate"]
    assert OperationOutcome.model_validate(anonymous.json()).issue[0].code == "login"
    for params in ({}, {"patient": "Group/1"}, {"patient": "a\x00b"}):
        bad = await intake.north.get("/fhir/R4/Observation", params=params)
        assert bad.status_code == 400, params
        assert bad.json()["issue"][0]["expression"] == ["patient"]
    unknown = await intake.north.get("/fhir/R4/Medication/1")
    assert unknown.status_code == 404 and unknown.json()["resourceType"] == "OperationOutcome"
    assert (await intake.north.get("/fhir/R4/Patient/not-an-id")).status_code == 404
    rest = await intake.north.get("/v1/patients/not-an-id")  # the REST API keeps problem+json
    assert rest.headers["content-type"] == "application/problem+json"


async def test_the_capability_statement_is_open(intake: Intake) -> None:
    answer = await intake.north.get("/fhir/R4/metadata", headers={"Authorization": ""})
    assert answer.status_code == 200
    statement = CapabilityStatement.model_validate(answer.json())
    assert {r.type for r in statement.rest[0].resource} == {"Patient", "Observation"}


async def test_an_assessment_corrected_as_entered_in_error_says_so(intake: Intake) -> None:
    patient_id = await intake.refer()
    await intake.assess(patient_id, [1] * 8 + [0])
    found = (await intake.north.get("/fhir/R4/Observation",
                                    params={"patient": patient_id})).json()["entry"]
    assessment_id = found[0]["resource"]["id"]
    assert found[0]["resource"]["status"] == "final"
    corrected = await intake.north.post(
        f"/v1/patients/{patient_id}/assessments/{assessment_id}/entered-in-error",
        json={"clinician_id": "clin-7", "reason": "another patient's answers"})
    assert corrected.status_code == 200, corrected.text
    read = await intake.north.get(f"/fhir/R4/Observation/{assessment_id}")
    assert read.json()["status"] == "entered-in-error"
