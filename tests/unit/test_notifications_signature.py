"""Webhook signatures: what an integrating EHR recomputes, byte for byte."""

import hashlib
import hmac
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.domain import SiteChannels, webhook_body, webhook_payload
from services.notifications.domain.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
    signed_headers,
    verify,
)

pytestmark = pytest.mark.unit

SECRET = "s3cret-0123456789abcdef"
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
BODY = b'{"kind":"urgent_alert","patient_id":"p-1"}'


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    timestamp = int(NOW.timestamp())
    expected = hmac.new(SECRET.encode(), f"{timestamp}.{BODY.decode()}".encode(),
                        hashlib.sha256).hexdigest()
    assert sign(SECRET, timestamp, BODY) == f"v1={expected}"


def test_signed_headers_carry_the_timestamp_and_the_signature() -> None:
    headers = signed_headers(SECRET, BODY, NOW)
    assert headers[TIMESTAMP_HEADER] == str(int(NOW.timestamp()))
    assert verify(SECRET, BODY, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], NOW)


def test_a_changed_body_a_wrong_secret_or_a_garbled_header_fails() -> None:
    headers = signed_headers(SECRET, BODY, NOW)
    timestamp, signature = headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]
    assert not verify(SECRET, BODY + b" ", timestamp, signature, NOW)
    assert not verify("another-secret-0123", BODY, timestamp, signature, NOW)
    assert not verify(SECRET, BODY, "yesterday", signature, NOW)
    assert not verify(SECRET, BODY, timestamp, "v1=00", NOW)
    # The signature covers the timestamp: moving it breaks the signature.
    assert not verify(SECRET, BODY, str(int(timestamp) + 1), signature, NOW)


@pytest.mark.parametrize(("age", "fresh"), [
    (timedelta(seconds=300), True), (timedelta(seconds=301), False),
    (timedelta(seconds=-300), True), (timedelta(seconds=-301), False),
])
def test_a_stale_or_future_timestamp_is_refused(age: timedelta, fresh: bool) -> None:
    headers = signed_headers(SECRET, BODY, NOW - age)
    assert verify(SECRET, BODY, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER],
                  NOW) is fresh


def test_one_matching_signature_among_several_is_enough_during_secret_rotation() -> None:
    timestamp = int(NOW.timestamp())
    header = f"{sign('old-secret-0123456789', timestamp, BODY)}, {sign(SECRET, timestamp, BODY)}"
    assert verify(SECRET, BODY, str(timestamp), header, NOW)


def test_the_payload_carries_codes_and_ids_and_is_serialized_stably() -> None:
    payload = webhook_payload(
        message_id="m-1", kind="urgent_alert", cause_type="iopnet.RiskSignalRaised",
        patient_id="p-1", site_id="site-north", occurred_at=NOW,
        facts={"alert_reason": "phq9_item9", "observed_on": "2026-12-01"})
    assert payload == {
        "type": "iopnet.RiskSignalRaised", "kind": "urgent_alert", "message_id": "m-1",
        "patient_id": "p-1", "site_id": "site-north", "occurred_at": NOW.isoformat(),
        "alert_reason": "phq9_item9", "observed_on": "2026-12-01",
    }
    assert webhook_body(payload) == webhook_body(dict(reversed(list(payload.items()))))
    assert b" " not in webhook_body(payload)


def test_during_a_rotation_the_header_carries_both_signatures_the_new_one_first() -> None:
    headers = signed_headers(["new-secret-0123456789", SECRET], BODY, NOW)
    new, old = headers[SIGNATURE_HEADER].split(",")
    timestamp = headers[TIMESTAMP_HEADER]
    assert verify("new-secret-0123456789", BODY, timestamp, new, NOW)
    assert verify(SECRET, BODY, timestamp, old, NOW)
    # a receiver holding either secret accepts the request as a whole
    for secret in ("new-secret-0123456789", SECRET):
        assert verify(secret, BODY, timestamp, headers[SIGNATURE_HEADER], NOW)


def test_a_changed_secret_keeps_the_old_one_signing_for_the_overlap_only() -> None:
    overlap = timedelta(hours=24)
    first = SiteChannels("site-north", webhook_url="https://ehr.example.org/h",
                         webhook_secret=SECRET)
    assert first.replacing(SiteChannels("site-north"), NOW, overlap).signing_secrets(NOW) == (
        SECRET,)
    rotated = replace(first, webhook_secret="new-secret-0123456789").replacing(
        first, NOW, overlap)
    assert rotated.signing_secrets(NOW + timedelta(hours=23)) == (
        "new-secret-0123456789", SECRET)
    assert rotated.signing_secrets(NOW + overlap) == ("new-secret-0123456789",)
    # Setting the channels again with the same secret keeps the overlap that is running.
    again = replace(rotated, clinician_alert_email="a@example.org",
                    previous_webhook_secret=None, previous_secret_until=None).replacing(
        rotated, NOW + timedelta(hours=1), overlap)
    assert again.previous_secret_until == NOW + overlap
    assert again.signing_secrets(NOW + timedelta(hours=2)) == (
        "new-secret-0123456789", SECRET)
