"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>", as a receiver verifies them.

Headers: ``X-Iopnet-Timestamp`` (Unix seconds) and ``X-Iopnet-Signature: v1=<hex>``.
A receiver recomputes the HMAC with the site's secret, compares in constant
time, and refuses a timestamp too far from its clock (a replayed request).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

TIMESTAMP_HEADER = "X-Iopnet-Timestamp"
SIGNATURE_HEADER = "X-Iopnet-Signature"
VERSION = "v1"
#: How far a timestamp may be from the receiver's clock, either way.
TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{VERSION}={mac.hexdigest()}"


def signed_headers(secret: str, body: bytes, now: datetime) -> dict[str, str]:
    timestamp = int(now.timestamp())
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify(secret: str, body: bytes, timestamp: str, signature: str, now: datetime,
           tolerance_seconds: int = TOLERANCE_SECONDS) -> bool:
    """True when one of the (comma-separated) signatures matches and the time is fresh."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs(now.timestamp() - sent_at) > tolerance_seconds:
        return False
    expected = sign(secret, sent_at, body)
    return any(hmac.compare_digest(expected, given.strip()) for given in signature.split(","))
