"""Family's FHIR mapping: RelatedPerson and Consent, each validated by fhir.resources'
R4B models."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.relatedperson import RelatedPerson

from services.family.api.fhir import consent_resource, related_person_resource

pytestmark = pytest.mark.unit

PATIENT_ID = "0b6f3c1e-6a55-4a43-9c55-0d2f1c0e7a10"
PERSON_ID = "2a3b4c5d-8888-4a43-9c55-0d2f1c0e7a10"
GRANTED = datetime(2027, 1, 5, 16, tzinfo=UTC)


def person(**more: Any) -> dict[str, Any]:
    return {"support_person_id": PERSON_ID, "patient_id": PATIENT_ID, "relationship": "parent",
            "given_name": "Bo", "family_name": "Example", **more}


def consent(**more: Any) -> dict[str, Any]:
    return {"consent_id": "3b4c5d6e-9999-4a43-9c55-0d2f1c0e7a10", "patient_id": PATIENT_ID,
            "support_person_id": PERSON_ID, "scope": "progress_summaries", "expires_on": None,
            "granted_at": GRANTED, "revoked_at": None, "expired_on": None, **more}


def test_a_support_person_is_a_related_person_of_the_patient() -> None:
    related = RelatedPerson.model_validate(related_person_resource(person()))
    assert related.patient.reference == f"Patient/{PATIENT_ID}"
    assert related.relationship[0].coding[0].code == "PRN"
    assert related.name[0].family == "Example"


def test_a_forgotten_name_and_an_uncoded_relationship_leave_text_only() -> None:
    related = RelatedPerson.model_validate(related_person_resource(
        person(relationship="other", given_name=None, family_name=None)))
    assert related.name is None
    assert related.relationship[0].coding is None and related.relationship[0].text == "other"


def test_a_live_consent_permits_what_its_scope_covers_to_the_person() -> None:
    resource = Consent.model_validate(consent_resource(consent()))
    assert resource.status == "active"
    assert resource.provision.actor[0].reference.reference == f"RelatedPerson/{PERSON_ID}"
    assert {c.text for c in resource.provision.code} == {"progress_summaries", "schedule"}
    assert resource.provision.period.start == date(2027, 1, 5)
    assert resource.provision.period.end is None


@pytest.mark.parametrize(("ended", "on"), [
    ({"revoked_at": datetime(2027, 2, 1, 12, tzinfo=UTC)}, date(2027, 2, 1)),
    ({"expires_on": date(2027, 3, 1), "expired_on": date(2027, 3, 1)}, date(2027, 3, 1))])
def test_a_revoked_or_expired_consent_is_inactive_from_then(ended: dict[str, Any],
                                                           on: date) -> None:
    resource = Consent.model_validate(consent_resource(consent(**ended)))
    assert resource.status == "inactive" and resource.provision.period.end == on
