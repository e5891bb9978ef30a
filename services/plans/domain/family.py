"""The patient's consents to involve family, as plans learns them from family. Pure; no I/O.

Consent to disclose is not a clinical indication. What a consent covers is family's
word (``ConsentGranted.covers``); plans only asks whether a live one covers family
participation. Such a consent lets plans *suggest* family therapy to the clinician,
who decides (a revision with their reason); the end of the last one takes family
therapy out at once, since no one may take part without it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class FamilyConsent:
    """One grant. ``expires_on`` is the last day it holds; a revocation holds at once, and
    so does family's word that it expired (``expired``), whatever day plans reads it on.
    ``covers_participation``: family published that it covers family participation."""

    consent_id: str
    expires_on: date | None = None
    revoked: bool = False
    expired: bool = False
    covers_participation: bool = False

    def live_on(self, day: date) -> bool:
        if self.revoked or self.expired:
            return False
        return self.expires_on is None or day <= self.expires_on


def family_participation_consented(consents: Iterable[FamilyConsent], day: date) -> bool:
    """At least one consent live on the day covers family participation."""
    return any(c.live_on(day) and c.covers_participation for c in consents)


def consent_for_participation(consents: Iterable[FamilyConsent], day: date) -> str | None:
    """The id of a live consent covering family participation on the day, if any."""
    return next((c.consent_id for c in consents
                 if c.live_on(day) and c.covers_participation), None)
