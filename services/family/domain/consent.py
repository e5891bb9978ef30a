"""The patient's consent to share with one support person, and what it allows today."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from iopnet.catalog import SCOPE_COVERS, ConsentScope

#: What each scope lets a support person see or do: family's definition, the one its
#: ``ConsentGranted`` publishes as ``covers``.
IMPLIED = SCOPE_COVERS


class ConsentStatus(StrEnum):
    LIVE = "live"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True)
class Consent:
    """One grant. ``expires_on`` is the last day it holds; a revocation holds at once.
    ``expired``: its expiry has been recorded (ConsentExpired)."""

    consent_id: str
    support_person_id: str
    scope: ConsentScope
    expires_on: date | None = None
    revoked: bool = False
    expired: bool = False

    def status_on(self, today: date) -> ConsentStatus:
        if self.revoked:
            return ConsentStatus.REVOKED
        if self.expired or (self.expires_on is not None and self.expires_on < today):
            return ConsentStatus.EXPIRED
        return ConsentStatus.LIVE

    def expiry_due(self, today: date) -> date | None:
        """The first day it no longer holds, when ``today`` has reached that day and its
        expiry is not recorded yet; None for a live, revoked or already expired consent."""
        if self.expired or self.expires_on is None:
            return None
        if self.status_on(today) is not ConsentStatus.EXPIRED:
            return None
        return self.expires_on + timedelta(days=1)

    def live_on(self, today: date) -> bool:
        return self.status_on(today) is ConsentStatus.LIVE


def what_may_be_shared(consents: Iterable[Consent], today: date) -> set[ConsentScope]:
    """The scopes the live consents (not revoked, not past their last day) allow today."""
    shared: set[ConsentScope] = set()
    for consent in consents:
        if consent.live_on(today):
            shared |= IMPLIED[consent.scope]
    return shared
