"""The patient's consents to involve family, as plans learns them from family. Pure; no I/O.

Whatever its scope (the schedule, progress summaries), a live consent means the
patient has let a support person in, and that is what family therapy needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class FamilyConsent:
    """One grant. ``expires_on`` is the last day it holds; a revocation holds at once, and
    so does family's word that it expired (``expired``), whatever day plans reads it on."""

    consent_id: str
    expires_on: date | None = None
    revoked: bool = False
    expired: bool = False

    def live_on(self, day: date) -> bool:
        if self.revoked or self.expired:
            return False
        return self.expires_on is None or day <= self.expires_on


def family_involved(consents: Iterable[FamilyConsent], day: date) -> bool:
    """At least one consent is live on the day."""
    return any(consent.live_on(day) for consent in consents)
