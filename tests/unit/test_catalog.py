from datetime import date

import pytest
from pydantic import ValidationError

from iopnet.catalog import CATALOG, PatientAdmitted, PatientReferred, UnknownEventType, parse_event
from iopnet.envelope import EventEnvelope

pytestmark = pytest.mark.unit

ADMISSION = dict(
    patient_id="p-1", site_id="s-1", program_id="iop", start_date="2026-12-01",
    days_per_week=3, planned_weeks=8, clinician_id="c-1", baseline_phq9=18,
)


def test_every_event_is_registered_under_its_type() -> None:
    assert CATALOG["iopnet.PatientAdmitted"] is PatientAdmitted
    assert CATALOG["iopnet.PatientReferred"] is PatientReferred


@pytest.mark.parametrize(("field", "value"), [
    ("days_per_week", 2), ("days_per_week", 6), ("planned_weeks", 7), ("planned_weeks", 13),
])
def test_admission_outside_program_bounds_is_refused(field: str, value: int) -> None:
    with pytest.raises(ValidationError) as error:
        PatientAdmitted.model_validate({**ADMISSION, field: value})
    assert error.value.errors()[0]["loc"] == (field,)


@pytest.mark.parametrize(("days", "weeks"), [(3, 8), (5, 12)])
def test_admission_at_program_bounds_is_valid(days: int, weeks: int) -> None:
    event = PatientAdmitted.model_validate({**ADMISSION, "days_per_week": days,
                                            "planned_weeks": weeks})
    assert event.start_date == date(2026, 12, 1)


def test_fields_from_a_newer_producer_are_dropped_not_carried() -> None:
    event = PatientAdmitted.model_validate({**ADMISSION, "added_in_v2": "x"})
    assert "added_in_v2" not in event.model_dump()


def test_unknown_type_is_reported() -> None:
    envelope = EventEnvelope(source="/x", type="iopnet.Unheard", subject="p", siteid="s",
                             streamid="x", streamversion=1, correlationid="c",
                             causationid="c", data={})
    with pytest.raises(UnknownEventType):
        parse_event(envelope)
