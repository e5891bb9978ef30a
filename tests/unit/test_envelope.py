from datetime import date

import pytest

from iopnet.catalog import PatientAdmitted, parse_event
from iopnet.envelope import EventEnvelope
from iopnet.eventstore import Cause, EventStore
from iopnet.kafka_binding import MalformedRecord, from_record, to_record

pytestmark = pytest.mark.unit


def admitted_envelope() -> EventEnvelope:
    event = PatientAdmitted(
        patient_id="p-1", site_id="site-a", program_id="iop-adult", start_date=date(2026, 12, 1),
        days_per_week=4, planned_weeks=10, clinician_id="c-7", baseline_phq9=18,
    )
    store = EventStore(source="/iopnet/intake", topic="iopnet.intake.events")
    return store.envelopes("patient-p-1", 1, [event], Cause("corr-1", "req-1"))[0]


def test_envelope_carries_cloudevents_attributes_and_extensions() -> None:
    envelope = admitted_envelope()
    assert envelope.specversion == "1.0"
    assert envelope.type == "iopnet.PatientAdmitted"
    assert envelope.subject == "p-1"
    assert envelope.siteid == "site-a"
    assert (envelope.streamid, envelope.streamversion) == ("patient-p-1", 2)
    assert (envelope.correlationid, envelope.causationid) == ("corr-1", "req-1")


def test_kafka_binary_mode_round_trip_is_lossless() -> None:
    envelope = admitted_envelope()
    record = to_record(envelope)
    assert record.key == b"p-1"
    headers = dict(record.headers)
    assert headers["ce_type"] == b"iopnet.PatientAdmitted"
    assert headers["content-type"] == b"application/json"
    assert from_record(record.value, record.headers) == envelope


def test_typed_event_survives_the_trip() -> None:
    envelope = admitted_envelope()
    back = from_record(to_record(envelope).value, to_record(envelope).headers)
    event = parse_event(back)
    assert isinstance(event, PatientAdmitted)
    assert event.start_date == date(2026, 12, 1)


def test_record_without_required_attributes_is_malformed() -> None:
    record = to_record(admitted_envelope())
    headers = [(k, v) for k, v in record.headers if k != "ce_subject"]
    with pytest.raises(MalformedRecord):
        from_record(record.value, headers)
