"""The shared FHIR documents validate as R4B resources (fhir.resources), and search
parameters are read as FHIR clients send them."""

from __future__ import annotations

from datetime import date

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome

from iopnet.fhir import (
    FhirError,
    ResourceSupport,
    SearchParam,
    capability_statement,
    codes_of,
    operation_outcome,
    patient_of,
)
from iopnet.fhir.documents import searchset

pytestmark = pytest.mark.unit

PATIENT_ID = "0b6f3c1e-6a55-4a43-9c55-0d2f1c0e7a10"


def test_a_searchset_bundle_holds_each_match_with_its_full_url() -> None:
    found = [{"resourceType": "Patient", "id": PATIENT_ID, "gender": "unknown"}]
    bundle = searchset("http://h/fhir/R4/Patient?_id=x", "http://h/fhir/R4", found)
    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "searchset" and parsed.total == 1
    assert parsed.entry[0].fullUrl == f"http://h/fhir/R4/Patient/{PATIENT_ID}"
    assert Bundle.model_validate(searchset("http://h/x", "http://h", [])).total == 0


def test_an_operation_outcome_names_the_parameter_at_fault() -> None:
    outcome = OperationOutcome.model_validate(
        operation_outcome("error", "invalid", "bad patient", ["patient"]))
    assert outcome.issue[0].expression == ["patient"]


def test_the_capability_statement_lists_reads_and_searches() -> None:
    served = [ResourceSupport("Observation", [SearchParam("patient", "reference")],
                              ["http://example.org/profile"], "scores")]
    statement = CapabilityStatement.model_validate(
        capability_statement("intake", "http://h/fhir/R4", served, date(2026, 12, 2)))
    resource = statement.rest[0].resource[0]
    assert resource.type == "Observation"
    assert [i.code for i in resource.interaction] == ["read", "search-type"]
    assert [p.name for p in resource.searchParam] == ["patient"]


@pytest.mark.parametrize("value", [PATIENT_ID, f"Patient/{PATIENT_ID}", PATIENT_ID.upper()])
def test_patient_is_an_id_or_a_reference(value: str) -> None:
    assert patient_of(value) == PATIENT_ID


@pytest.mark.parametrize("value", [None, "", "Patient/", "Group/x", "1' OR '1'='1", "a\x00b"])
def test_a_patient_parameter_naming_no_patient_is_refused(value: str | None) -> None:
    with pytest.raises(FhirError) as refused:
        patient_of(value)
    assert refused.value.status == 400 and refused.value.expression == ["patient"]


def test_code_tokens_are_loinc_codes_with_or_without_the_system() -> None:
    assert codes_of(None) is None
    assert codes_of("44261-6,http://loinc.org|70274-6") == {"44261-6", "70274-6"}
    assert codes_of("http://snomed.info/sct|44261-6") == frozenset()
