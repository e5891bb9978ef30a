"""Sessions' FHIR R4 resources: the in-program PHQ-9 and GAD-7 as Observations, and each
patient's place at a session as an Encounter. Pure: read models in, FHIR dicts out."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

from iopnet.catalog import Instrument
from iopnet.catalog.loinc import PHQ9_ITEMS, concept, score_concept
from iopnet.fhir import identifier, reference, score_observation
from services.sessions.api.patients import band_of
from services.sessions.domain.outcomes import Measure

#: https://hl7.org/fhir/us/core/STU3.1.1/StructureDefinition-us-core-encounter.html
US_CORE_ENCOUNTER = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-encounter"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OBSERVED = (Instrument.PHQ9, Instrument.GAD7)
#: R4 Encounter has no "no-show": a missed session is one that ended before it began.
ENCOUNTER_STATUS = {"scheduled": "planned", "waitlisted": "planned", "cancelled": "cancelled",
                    "attended": "finished", "late": "finished", "absent": "cancelled",
                    "excused": "cancelled"}


def observation_resource(patient_id: str, measure: Measure) -> dict[str, Any]:
    """A measure's total; a PHQ-9's item 9 (the one sessions keeps) as its component."""
    item9 = PHQ9_ITEMS[8]
    components = [(concept(*item9), measure.item9)] if measure.item9 is not None else []
    return score_observation(
        measure.measure_id, patient_id, score_concept(measure.instrument), measure.total,
        measure.measured_on, interpretation=band_of(measure), components=components)


def encounter_id(session_id: str, patient_id: str) -> str:
    """A patient's place at a session: a group session is shared by its patients, so the
    Encounter's id is a digest of both (the SQL in ``store.find_patient_session`` agrees)."""
    return str(uuid.UUID(hashlib.md5(f"{session_id}/{patient_id}".encode()).hexdigest()))


def encounter_resource(place: dict[str, Any]) -> dict[str, Any]:
    """A row of ``patient_sessions`` as a US Core Encounter: ambulatory, its modality the
    type, the clinician the participant, the scheduled time the period."""
    session_id, patient_id = str(place["session_id"]), str(place["patient_id"])
    ends_at = place["starts_at"] + timedelta(minutes=place["duration_minutes"])
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": encounter_id(session_id, patient_id),
        "meta": {"profile": [US_CORE_ENCOUNTER]},
        "identifier": [identifier("session", session_id)],
        "status": ENCOUNTER_STATUS[place["status"]],
        "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "type": [{"text": f"{place['kind']}: {place['modality']}"}],
        "subject": reference("Patient", patient_id),
        "participant": [{"individual": {"identifier": identifier(
            "clinician", place["clinician_id"])}}],
        "period": {"start": place["starts_at"].isoformat(), "end": ends_at.isoformat()},
    }
    if place["status"] in ("attended", "late"):
        encounter["length"] = {"value": place["credited_minutes"], "unit": "min",
                               "system": "http://unitsofmeasure.org", "code": "min"}
    return encounter
