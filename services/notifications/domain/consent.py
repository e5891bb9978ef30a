"""What may reach a support person: only what the patient's live consent covers.

What a consent covers is family's to say (``SCOPE_COVERS`` in the catalog), published on
every ``ConsentGranted`` as ``covers``: notifications keeps that list and reads it, never
deriving it from the scope again."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from iopnet.catalog import ConsentScope
from services.notifications.domain.messages import MessageKind

#: The consent each family message needs.
NEEDED_SCOPE: dict[MessageKind, ConsentScope] = {
    MessageKind.FAMILY_SCHEDULE_UPDATE: ConsentScope.SCHEDULE,
    MessageKind.FAMILY_PROGRESS_UPDATE: ConsentScope.PROGRESS_SUMMARIES,
}


@dataclass(frozen=True)
class Consent:
    consent_id: str
    support_person_id: str
    #: ``ConsentGranted.covers``: every scope family says this consent allows while live.
    covers_scopes: frozenset[ConsentScope]
    expires_on: date | None = None
    revoked: bool = False

    def live_on(self, day: date) -> bool:
        """Granted, not revoked, and not past its expiry (the expiry day still counts)."""
        return not self.revoked and (self.expires_on is None or day <= self.expires_on)

    def covers(self, needed: ConsentScope) -> bool:
        return needed in self.covers_scopes


def may_share(consents: Iterable[Consent], support_person_id: str, needed: ConsentScope,
              on: date) -> bool:
    return any(c.support_person_id == support_person_id and c.live_on(on) and c.covers(needed)
               for c in consents)


def sharing_with(consents: Iterable[Consent], needed: ConsentScope, on: date) -> list[str]:
    """The support persons who may be told ``needed`` on that day, in a stable order."""
    return sorted({c.support_person_id for c in consents if c.live_on(on) and c.covers(needed)})
