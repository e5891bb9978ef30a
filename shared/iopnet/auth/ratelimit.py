"""Per-key rate limits: a token bucket per key, refilled continuously.

Buckets live in the API process, so with N replicas a key gets up to N times
its limit; the limit guards each replica, not a global quota.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field


@dataclass
class Bucket:
    capacity: float
    tokens: float
    refilled_at: float = field(default_factory=time.monotonic)


class RateLimiter:
    def __init__(self) -> None:
        self._buckets: dict[str, Bucket] = {}

    def retry_after(self, key_id: str, per_minute: int, now: float | None = None) -> int:
        """Take one request's token; 0 when allowed, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key_id)
        if bucket is None or bucket.capacity != per_minute:
            bucket = self._buckets[key_id] = Bucket(per_minute, per_minute, now)
        rate = per_minute / 60.0
        bucket.tokens = min(bucket.capacity, bucket.tokens + (now - bucket.refilled_at) * rate)
        bucket.refilled_at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0
        return max(1, math.ceil((1 - bucket.tokens) / rate))
