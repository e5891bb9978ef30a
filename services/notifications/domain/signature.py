"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>", as a receiver verifies them.

Headers: ``X-Iopnet-Timestamp`` (Unix seconds) and ``X-Iopnet-Signature: v1=<hex>``.
While a rotated secret overlaps with its successor, the header carries one
signature per secret, the current one first: ``v1=<new hex>,v1=<old hex>``.
A receiver recomputes the HMAC with the secret it holds, accepts the request
when any signature matches (compared in constant time), and refuses a
timestamp too far from its clock (a replayed request).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime

TIMESTAMP_HEADER = "X-Iopnet-Timestamp"
SIGNATURE_HEADER = "X-Iopnet-Signature"
VERSION = "v1"
#: How far a timestamp may be from the receiver's clock, either way.
TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{VERSION}={mac.hexdigest()}"


def signed_headers(secrets: str | Sequence[str], body: bytes, now: datetime
                   ) -> dict[str, str]:
    """The headers of a webhook signed with each secret (during a rotation, new and old)."""
    timestamp = int(now.timestamp())
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    return {TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: ",".join(sign(key, timestamp, body) for key in keys)}


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
