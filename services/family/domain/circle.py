"""A patient's family circle: support persons, the patient's consents, family sessions.

The aggregate (stream ``family-<patient_id>``) is rebuilt from its own stream only: it
opens when the patient is admitted, follows a transfer to the new site and closes when
the patient is forgotten, each by a private event of its own. It is where the rules hold: consent
only for a linked person, a revocation once, no expiry in the past. A new grant
for a person replaces the live one: the old grant is revoked by an event of its
own, so every consumer that only unions live grants reaches the same answer. A
grant past its last day is ended by an event of its own too (ConsentExpired),
recorded once by the worker's expiry job.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from iopnet.aggregate import Aggregate
from iopnet.catalog import (
    SCOPE_COVERS,
    ConsentExpired,
    ConsentGranted,
    ConsentRevoked,
    ConsentScope,
    DomainEvent,
    FamilySessionHeld,
    Relationship,
    SupportPersonLinked,
)
from services.family.domain.consent import Consent, what_may_be_shared
from services.family.domain.errors import ConsentAlreadyRevoked, InvalidRequest, NotFound
from services.family.domain.events import (
    AttendanceEntry,
    FamilyCircleForgotten,
    FamilyCircleMoved,
    FamilyCircleOpened,
    FamilySessionRecorded,
    SupportPersonNamed,
)


class FamilySessionKind(StrEnum):
    FAMILY_THERAPY = "family_therapy"
    FAMILY_PSYCHOEDUCATION = "family_psychoeducation"


@dataclass(frozen=True)
class Attendance:
    support_person_id: str
    attended: bool


@dataclass(frozen=True)
class FamilySession:
    family_session_id: str
    kind: FamilySessionKind
    held_on: date
    clinician_id: str
    attendance: tuple[Attendance, ...]

    @property
    def present(self) -> int:
        return sum(1 for a in self.attendance if a.attended)


@dataclass(frozen=True)
class PersonName:
    given_name: str
    family_name: str


class FamilyCircle(Aggregate):
    """One patient's circle, rebuilt from its events. ``site_id`` is where the patient is now."""

    stream_prefix = "family"

    def __init__(self, patient_id: str, site_id: str = "") -> None:
        super().__init__(patient_id)
        self.site_id = site_id
        self.support_persons: dict[str, Relationship] = {}
        self.consents: dict[str, Consent] = {}
        self.family_sessions: set[str] = set()
        self.opened = False
        self.forgotten = False

    @property
    def patient_id(self) -> str:
        return self.id

    @property
    def is_open(self) -> bool:
        """Opened on admission and not forgotten since: it takes commands."""
        return self.opened and not self.forgotten

    # Commands

    def open(self, site_id: str, admitted_on: date, baseline_phq9: int | None) -> None:
        """Open the circle at the admitting site; a later admission changes nothing."""
        if self.opened:
            return
        self.record(FamilyCircleOpened(site_id=site_id, patient_id=self.id,
                                       admitted_on=admitted_on, baseline_phq9=baseline_phq9))

    def move_to(self, site_id: str) -> None:
        """Follow a transfer: the circle belongs to ``site_id`` from now on."""
        if not self.is_open or site_id == self.site_id:
            return
        self.record(FamilyCircleMoved(site_id=site_id, patient_id=self.id,
                                      from_site_id=self.site_id))

    def forget(self) -> None:
        if self.forgotten:
            return
        self.record(FamilyCircleForgotten(site_id=self.site_id, patient_id=self.id))

    def link_support_person(self, support_person_id: str, relationship: Relationship,
                            name: PersonName) -> None:
        """Published: the person's id and relationship; kept here, sealed: the name."""
        self.record(SupportPersonLinked(
            site_id=self.site_id, patient_id=self.id,
            support_person_id=support_person_id, relationship=relationship,
        ))
        self.record(SupportPersonNamed(
            site_id=self.site_id, patient_id=self.id, support_person_id=support_person_id,
            given_name=name.given_name, family_name=name.family_name,
        ))

    def grant_consent(self, consent_id: str, support_person_id: str, scope: ConsentScope,
                      expires_on: date | None, today: date) -> None:
        self._require_linked(support_person_id)
        if expires_on is not None and expires_on < today:
            raise InvalidRequest("#/expires_on", f"{expires_on} is in the past (today is {today})")
        for replaced in self.live_consents(support_person_id, today):
            self._record_revocation(replaced, replaced_by=consent_id)
        self.record(ConsentGranted(
            site_id=self.site_id, patient_id=self.id, consent_id=consent_id,
            support_person_id=support_person_id, scope=scope, expires_on=expires_on,
            covers=sorted(SCOPE_COVERS[scope]),
        ))

    def revoke_consent(self, consent_id: str, support_person_id: str) -> None:
        self._require_linked(support_person_id)
        consent = self.consents.get(consent_id)
        if consent is None or consent.support_person_id != support_person_id:
            raise NotFound("consent", consent_id)
        if consent.revoked:
            raise ConsentAlreadyRevoked(f"consent {consent_id} is already revoked")
        self._record_revocation(consent)

    def expire_consents(self, today: date) -> None:
        """Record the end of every consent past its last day on ``today``, once each;
        a revoked consent has ended already and never expires."""
        for consent in list(self.consents.values()):
            expired_on = consent.expiry_due(today)
            if expired_on is not None:
                self.record(ConsentExpired(
                    site_id=self.site_id, patient_id=self.id, consent_id=consent.consent_id,
                    support_person_id=consent.support_person_id, expired_on=expired_on,
                ))

    def hold_family_session(self, session: FamilySession, today: date) -> None:
        if session.held_on > today:
            raise InvalidRequest("#/held_on", "a session is recorded once it has been held")
        seen: set[str] = set()
        for index, attendance in enumerate(session.attendance):
            pointer = f"#/attendance/{index}/support_person_id"
            if attendance.support_person_id not in self.support_persons:
                raise InvalidRequest(pointer, "not a support person linked to this patient")
            if attendance.support_person_id in seen:
                raise InvalidRequest(pointer, "listed more than once")
            seen.add(attendance.support_person_id)
        self.record(FamilySessionHeld(
            site_id=self.site_id, patient_id=self.id,
            family_session_id=session.family_session_id, kind=session.kind.value,
            held_on=session.held_on, support_persons_present=session.present,
        ))
        self.record(FamilySessionRecorded(
            site_id=self.site_id, patient_id=self.id,
            family_session_id=session.family_session_id, kind=session.kind.value,
            held_on=session.held_on, clinician_id=session.clinician_id,
            attendance=tuple(AttendanceEntry(support_person_id=a.support_person_id,
                                             attended=a.attended)
                             for a in session.attendance),
        ))

    # Queries

    def consents_of(self, support_person_id: str) -> list[Consent]:
        return [c for c in self.consents.values() if c.support_person_id == support_person_id]

    def live_consents(self, support_person_id: str, today: date) -> list[Consent]:
        return [c for c in self.consents_of(support_person_id) if c.live_on(today)]

    def shared_with(self, support_person_id: str, today: date) -> set[ConsentScope]:
        return what_may_be_shared(self.consents_of(support_person_id), today)

    # State

    def apply(self, event: DomainEvent) -> None:
        match event:
            case FamilyCircleOpened():
                self.opened, self.site_id = True, event.site_id
            case FamilyCircleMoved():
                self.site_id = event.site_id
            case FamilyCircleForgotten():
                self.forgotten = True
            case SupportPersonLinked():
                self.support_persons[event.support_person_id] = event.relationship
            case ConsentGranted():
                self.consents[event.consent_id] = Consent(
                    event.consent_id, event.support_person_id, event.scope, event.expires_on)
            case ConsentRevoked():
                self.consents[event.consent_id] = replace(
                    self.consents[event.consent_id], revoked=True)
            case ConsentExpired():
                self.consents[event.consent_id] = replace(
                    self.consents[event.consent_id], expired=True)
            case FamilySessionHeld():
                self.family_sessions.add(event.family_session_id)

    def _require_linked(self, support_person_id: str) -> None:
        if support_person_id not in self.support_persons:
            raise NotFound("support person", support_person_id)

    def _record_revocation(self, consent: Consent, replaced_by: str | None = None) -> None:
        self.record(ConsentRevoked(
            site_id=self.site_id, patient_id=self.id, consent_id=consent.consent_id,
            support_person_id=consent.support_person_id, replaced_by=replaced_by,
        ))
