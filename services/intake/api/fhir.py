"""Intake's FHIR R4 resources: Patient, and the Observations of the initial PHQ-9, GAD-7
and AUDIT-C. Pure: rows of intake's read models in, FHIR resources (dicts) out."""

from __future__ import annotations

from typing import Any

from iopnet.catalog import Instrument
from iopnet.catalog.loinc import phq9_item_concepts, score_concept
from iopnet.fhir import identifier, score_observation

#: https://hl7.org/fhir/us/core/STU3.1.1/StructureDefinition-us-core-patient.html
US_CORE_PATIENT = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"
US_CORE_BIRTHSEX = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"
#: US Core Birth Sex (M, F, UNK); "other" has no code there, so it is left out.
BIRTHSEX_CODES = {"male": "M", "female": "F", "unknown": "UNK"}
OBSERVED = (Instrument.PHQ9, Instrument.GAD7, Instrument.AUDITC)


def patient_resource(person: dict[str, Any]) -> dict[str, Any]:
    """A US Core Patient. Intake records no administrative gender, only (with an AUDIT-C)
    the sex at birth: ``gender`` is ``unknown`` and the sex at birth is us-core-birthsex.
    A forgotten patient's identity reads as nothing: the resource then has no name."""
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": person["patient_id"],
        "meta": {"profile": [US_CORE_PATIENT]},
        "identifier": [identifier("patient", person["patient_id"])],
        "gender": "unknown",
        "managingOrganization": {"identifier": identifier("site", person["site_id"])},
    }
    if person.get("family_name"):
        patient["name"] = [{"family": person["family_name"], "given": [person["given_name"]]}]
    if person.get("birth_date"):
        patient["birthDate"] = person["birth_date"].isoformat()
    if code := BIRTHSEX_CODES.get(person.get("sex_at_birth") or ""):
        patient["extension"] = [{"url": US_CORE_BIRTHSEX, "valueCode": code}]
    return patient


def observation_resource(assessment: dict[str, Any]) -> dict[str, Any]:
    """An assessment's total; a PHQ-9's nine answers as components when intake has them.
    One corrected as entered in error is served as such, never as a final result."""
    instrument = Instrument(assessment["instrument"])
    items = (assessment.get("responses") or {}).get("items")
    components = phq9_item_concepts(items) if instrument is Instrument.PHQ9 and items else []
    return score_observation(
        assessment["assessment_id"], assessment["patient_id"], score_concept(instrument),
        assessment["total"], assessment["assessed_on"], issued=assessment["recorded_at"],
        interpretation=assessment["band"], components=components,
        status="entered-in-error" if assessment.get("entered_in_error") else "final")
