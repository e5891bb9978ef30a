"""Intake's FHIR mapping: Patient (US Core) and the initial assessments as Observations,
each validated by fhir.resources' R4B models."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

from services.intake.api.fhir import (
    US_CORE_BIRTHSEX,
    US_CORE_PATIENT,
    observation_resource,
    patient_resource,
)

pytestmark = pytest.mark.unit

PATIENT_ID = "0b6f3c1e-6a55-4a43-9c55-0d2f1c0e7a10"
PERSON = {"patient_id": PATIENT_ID, "site_id": "site-north", "status": "admitted",
          "given_name": "Ada", "family_name": "Example", "birth_date": date(1990, 4, 2),
          "sex_at_birth": "female"}


def assessment(instrument: str, total: int, **more: Any) -> dict[str, Any]:
    return {"assessment_id": "7d1c8f0e-1111-4a43-9c55-0d2f1c0e7a10", "patient_id": PATIENT_ID,
            "instrument": instrument, "total": total, "band": "moderately_severe",
            "assessed_on": date(2026, 11, 30),
            "recorded_at": datetime(2026, 11, 30, 15, tzinfo=UTC), "responses": None, **more}


def test_a_patient_is_a_us_core_patient_with_the_sex_at_birth() -> None:
    patient = Patient.model_validate(patient_resource(PERSON))
    assert patient.meta.profile == [US_CORE_PATIENT]
    assert patient.name[0].family == "Example" and patient.name[0].given == ["Ada"]
    assert patient.birthDate == date(1990, 4, 2)
    assert patient.gender == "unknown"  # intake records no administrative gender
    assert patient.identifier[0].value == PATIENT_ID and patient.identifier[0].system
    assert [(e.url, e.valueCode) for e in patient.extension] == [(US_CORE_BIRTHSEX, "F")]


@pytest.mark.parametrize("sex", [None, "other"])
def test_no_birthsex_extension_without_a_code_for_it(sex: str | None) -> None:
    patient = Patient.model_validate(patient_resource({**PERSON, "sex_at_birth": sex}))
    assert patient.extension is None


def test_a_forgotten_identity_leaves_a_patient_without_name() -> None:
    forgotten = {**PERSON, "given_name": None, "family_name": None, "birth_date": None}
    patient = Patient.model_validate(patient_resource(forgotten))
    assert patient.name is None and patient.birthDate is None


def test_a_phq9_is_a_survey_observation_with_its_nine_items() -> None:
    items = [2, 2, 2, 2, 2, 2, 2, 2, 1]
    observation = Observation.model_validate(observation_resource(
        assessment("phq9", 17, responses={"items": items})))
    assert observation.status == "final"
    assert observation.category[0].coding[0].code == "survey"
    assert (observation.code.coding[0].system, observation.code.coding[0].code) == (
        "http://loinc.org", "44261-6")
    assert observation.subject.reference == f"Patient/{PATIENT_ID}"
    assert observation.valueQuantity.value == 17
    assert [c.code.coding[0].code for c in observation.component][-1] == "44260-8"  # item 9
    assert [c.valueQuantity.value for c in observation.component] == items


@pytest.mark.parametrize(("instrument", "code"), [("gad7", "70274-6"), ("auditc", "75626-2")])
def test_gad7_and_auditc_are_their_totals(instrument: str, code: str) -> None:
    observation = Observation.model_validate(observation_resource(
        assessment(instrument, 6, responses={"items": [1, 1, 1]})))
    assert observation.code.coding[0].code == code and observation.component is None
    assert observation.effectiveDateTime == date(2026, 11, 30)


def test_an_assessment_entered_in_error_is_served_as_such() -> None:
    observation = Observation.model_validate(observation_resource(
        assessment("phq9", 17, entered_in_error=True)))
    assert observation.status == "entered-in-error"
