"""Family's FHIR R4 resources: support persons (RelatedPerson) and the patient's consents
to them (Consent). Pure: read models in, FHIR dicts out."""

from __future__ import annotations

from datetime import date
from typing import Any

from iopnet.catalog import ConsentScope
from iopnet.catalog.family import SCOPE_COVERS, Relationship
from iopnet.fhir import reference

ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
#: http://terminology.hl7.org/CodeSystem/v3-RoleCode; "other" has no code of its own.
RELATIONSHIP_CODES = {Relationship.PARENT: "PRN", Relationship.PARTNER: "SIGOTHR",
                      Relationship.SIBLING: "SIB", Relationship.CHILD: "CHILD",
                      Relationship.FRIEND: "FRND"}
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"


def related_person_resource(person: dict[str, Any]) -> dict[str, Any]:
    """A support person; a forgotten patient's support person has no name any more."""
    relationship = Relationship(person["relationship"])
    concept: dict[str, Any] = {"text": relationship.value}
    if code := RELATIONSHIP_CODES.get(relationship):
        concept["coding"] = [{"system": ROLE_CODE, "code": code}]
    resource: dict[str, Any] = {
        "resourceType": "RelatedPerson",
        "id": str(person["support_person_id"]),
        "active": True,
        "patient": reference("Patient", str(person["patient_id"])),
        "relationship": [concept],
    }
    if person.get("family_name"):
        resource["name"] = [{"family": person["family_name"], "given": [person["given_name"]]}]
    return resource


def consent_resource(consent: dict[str, Any]) -> dict[str, Any]:
    """The patient's consent to tell one support person what its scope covers (family's
    ``SCOPE_COVERS``), from its grant to its revocation or expiry."""
    ended = _ended_on(consent)
    period = {"start": consent["granted_at"].date().isoformat()}
    if ended is not None:
        period["end"] = ended.isoformat()
    covers = sorted(SCOPE_COVERS[ConsentScope(consent["scope"])])
    return {
        "resourceType": "Consent",
        "id": str(consent["consent_id"]),
        "status": "inactive" if _over(consent) else "active",
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}],
                      "text": "Patient consent"}],
        "patient": reference("Patient", str(consent["patient_id"])),
        "dateTime": consent["granted_at"].isoformat(),
        "policyRule": {"coding": [{"system": ACT_CODE, "code": "OPTIN"}]},
        "provision": {
            "type": "permit",
            "period": period,
            "actor": [{"role": {"coding": [{"system": PARTICIPATION, "code": "IRCP"}]},
                       "reference": reference("RelatedPerson",
                                              str(consent["support_person_id"]))}],
            "code": [{"text": scope.value} for scope in covers],
        },
    }


def _over(consent: dict[str, Any]) -> bool:
    return consent["revoked_at"] is not None or consent["expired_on"] is not None


def _ended_on(consent: dict[str, Any]) -> date | None:
    if consent["revoked_at"] is not None:
        revoked: date = consent["revoked_at"].date()
        return revoked
    ended: date | None = consent["expired_on"] or consent["expires_on"]
    return ended
