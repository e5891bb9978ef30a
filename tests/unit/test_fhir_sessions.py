"""Sessions' FHIR mapping: in-program measures as Observations, a patient's place at a
session as an Encounter, each validated by fhir.resources' R4B models."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.observation import Observation

from iopnet.catalog import Instrument
from services.sessions.api.fhir import encounter_id, encounter_resource, observation_resource
from services.sessions.domain.outcomes import Measure

pytestmark = pytest.mark.unit

PATIENT_ID = "0b6f3c1e-6a55-4a43-9c55-0d2f1c0e7a10"
SESSION_ID = "5e0c4b7a-2222-4a43-9c55-0d2f1c0e7a10"


def test_a_weekly_phq9_is_an_observation_with_item_9() -> None:
    measure = Measure("9a1c8f0e-3333-4a43-9c55-0d2f1c0e7a10", Instrument.PHQ9, 14, 1,
                      date(2027, 1, 11), 2)
    observation = Observation.model_validate(observation_resource(PATIENT_ID, measure))
    assert observation.id == measure.measure_id
    assert observation.code.coding[0].code == "44261-6"
    assert observation.valueQuantity.value == 14
    assert observation.interpretation[0].text == "moderate"
    assert [(c.code.coding[0].code, c.valueQuantity.value) for c in observation.component] == [
        ("44260-8", 1)]


def test_a_gad7_is_its_total() -> None:
    measure = Measure("9a1c8f0e-4444-4a43-9c55-0d2f1c0e7a10", Instrument.GAD7, 11, None,
                      date(2027, 1, 11), 2)
    observation = Observation.model_validate(observation_resource(PATIENT_ID, measure))
    assert observation.code.coding[0].code == "70274-6" and observation.component is None


def place(status: str, **more: Any) -> dict[str, Any]:
    return {"session_id": SESSION_ID, "patient_id": PATIENT_ID, "kind": "group",
            "modality": "cbt", "starts_at": datetime(2027, 1, 11, 15, tzinfo=UTC),
            "duration_minutes": 180, "clinician_id": "clin-g", "status": status,
            "credited_minutes": 0, **more}


@pytest.mark.parametrize(("status", "fhir_status"), [
    ("scheduled", "planned"), ("waitlisted", "planned"), ("cancelled", "cancelled"),
    ("attended", "finished"), ("late", "finished"), ("absent", "cancelled"),
    ("excused", "cancelled")])
def test_a_session_is_an_encounter_in_its_status(status: str, fhir_status: str) -> None:
    encounter = Encounter.model_validate(encounter_resource(place(status)))
    assert encounter.status == fhir_status
    assert encounter.subject.reference == f"Patient/{PATIENT_ID}"
    assert encounter.class_fhir.code == "AMB"
    assert encounter.period.end == datetime(2027, 1, 11, 18, tzinfo=UTC)


def test_an_attended_session_counts_its_credited_minutes() -> None:
    encounter = Encounter.model_validate(encounter_resource(
        place("late", credited_minutes=150)))
    assert encounter.length.value == 150


def test_each_patient_at_a_group_session_is_an_encounter_of_its_own() -> None:
    other = "1c2d3e4f-5555-4a43-9c55-0d2f1c0e7a10"
    assert encounter_id(SESSION_ID, PATIENT_ID) != encounter_id(SESSION_ID, other)
    assert encounter_resource(place("scheduled"))["id"] == encounter_id(SESSION_ID, PATIENT_ID)
