"""FHIR R4 documents built as plain dicts: the searchset Bundle, OperationOutcome,
CapabilityStatement, references and a survey score Observation. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

Resource = dict[str, Any]

FHIR_VERSION = "4.0.1"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
#: https://hl7.org/fhir/us/core/StructureDefinition-us-core-observation-screening-assessment.html
US_CORE_SCREENING_ASSESSMENT = US_CORE + "us-core-observation-screening-assessment"
#: iopnet's own identifier systems (a patient's id, a site's id): ``<IDENTIFIERS><kind>``.
IDENTIFIERS = "https://iopnet.dev/fhir/sid/"


@dataclass(frozen=True)
class SearchParam:
    name: str
    type: str  # a FHIR search parameter type: reference, token, date, ...
    documentation: str = ""


@dataclass(frozen=True)
class ResourceSupport:
    """One resource type a service serves: read by id, and search by these parameters."""

    type: str
    search: Sequence[SearchParam]
    profiles: Sequence[str] = field(default_factory=tuple)
    documentation: str = ""


def reference(resource_type: str, resource_id: str) -> dict[str, str]:
    return {"reference": f"{resource_type}/{resource_id}"}


def identifier(kind: str, value: str) -> dict[str, str]:
    return {"system": IDENTIFIERS + kind, "value": value}


def operation_outcome(severity: str, code: str, diagnostics: str,
                      expression: Sequence[str] = ()) -> Resource:
    """One issue: ``code`` from http://hl7.org/fhir/issue-type (not-found, invalid, ...)."""
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = list(expression)
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def searchset(self_url: str, base_url: str, resources: Sequence[Resource]) -> Resource:
    """A search's answer: every match, each with its absolute ``fullUrl``."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "link": [{"relation": "self", "url": self_url}],
        "entry": [{"fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}", "resource": r,
                   "search": {"mode": "match"}} for r in resources],
    }


def capability_statement(service: str, base_url: str, served: Sequence[ResourceSupport],
                         published: date) -> Resource:
    """What this service serves under ``/fhir/R4``: reads and searches, JSON only."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": published.isoformat(),
        "kind": "instance",
        "software": {"name": f"iopnet {service}"},
        "implementation": {"description": f"iopnet {service}: FHIR R4 reads", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "security": {"description": "An iopnet API key with the 'read' scope, as "
                         "'Authorization: Bearer <key>' or 'X-API-Key'; a key sees its "
                         "own site's patients only."},
            "resource": [_resource_support(r) for r in served],
        }],
    }


def _resource_support(served: ResourceSupport) -> Resource:
    support: Resource = {
        "type": served.type,
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": [{"name": p.name, "type": p.type,
                         **({"documentation": p.documentation} if p.documentation else {})}
                        for p in served.search],
    }
    if served.profiles:
        support["supportedProfile"] = list(served.profiles)
    if served.documentation:
        support["documentation"] = served.documentation
    return support


def score_observation(observation_id: str, patient_id: str, code: dict[str, Any], score: int,
                      effective: date, *, issued: datetime | None = None,
                      interpretation: str | None = None,
                      components: Sequence[tuple[dict[str, Any], int]] = (),
                      status: str = "final") -> Resource:
    """A questionnaire's score as a survey Observation (US Core Observation Screening
    Assessment): ``code`` the score's CodeableConcept, ``components`` the items' codes
    with their answers' values."""
    observation: Resource = {
        "resourceType": "Observation",
        "id": observation_id,
        "meta": {"profile": [US_CORE_SCREENING_ASSESSMENT]},
        "status": status,
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey",
                                  "display": "Survey"}]}],
        "code": code,
        "subject": reference("Patient", patient_id),
        "effectiveDateTime": effective.isoformat(),
        "valueQuantity": _score(score),
    }
    if issued is not None:
        observation["issued"] = issued.isoformat()
    if interpretation:
        observation["interpretation"] = [{"text": interpretation}]
    if components:
        observation["component"] = [{"code": item, "valueQuantity": _score(value)}
                                    for item, value in components]
    return observation


def _score(value: int) -> dict[str, Any]:
    return {"value": value, "unit": "{score}", "system": UCUM, "code": "{score}"}
