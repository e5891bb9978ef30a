"""Family's use cases, one function each: routes, the consumer's reactions and the consent
expiry job all call these. Each loads the patient's circle from its own stream through
the unit of work, changes it through the domain, and saves it (the circle's tables are
projected in the same transaction). What a handler returns is what its caller answers.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from iopnet.auth.principal import ALL_SITES
from iopnet.auth.registry import site_date
from iopnet.catalog import ConsentScope, Relationship
from iopnet.db import Connection
from iopnet.eventstore import Cause, EventStore
from iopnet.unit_of_work import UnitOfWork
from services.family import store
from services.family.domain import (
    Attendance,
    ConsentStatus,
    FamilyCircle,
    FamilySession,
    FamilySessionKind,
    NotFound,
    PersonName,
)
from services.family.projections import project_circle

EVENTS = EventStore.of("family")


def unit_of_work(conn: Connection, cause: Cause, events: EventStore = EVENTS) -> UnitOfWork:
    """A unit of work that projects family's own events into its tables as it saves."""
    return UnitOfWork(conn, events, cause, project=project_circle)


# Following the patient's care elsewhere (the consumer's reactions).

async def open_circle(uow: UnitOfWork, patient_id: str, site_id: str, admitted_on: date,
                      baseline_phq9: int | None) -> None:
    """The patient was admitted: their circle opens at the admitting site (once)."""
    circle = await uow.load(FamilyCircle, patient_id) or FamilyCircle(patient_id)
    circle.open(site_id, admitted_on, baseline_phq9)
    await uow.save(circle)


async def move_circle(uow: UnitOfWork, patient_id: str, site_id: str) -> None:
    """The patient was transferred: their circle follows them to ``site_id``."""
    circle = await uow.load(FamilyCircle, patient_id)
    if circle is not None:
        circle.move_to(site_id)
        await uow.save(circle)


async def forget_circle(uow: UnitOfWork, patient_id: str) -> None:
    """The patient was forgotten: their circle takes no more commands."""
    circle = await uow.load(FamilyCircle, patient_id)
    if circle is not None:
        circle.forget()
        await uow.save(circle)


# What a site's staff do (the routes).

@dataclass(frozen=True)
class LinkSupportPerson:
    patient_id: str
    relationship: Relationship
    name: PersonName


@dataclass(frozen=True)
class GrantConsent:
    patient_id: str
    support_person_id: str
    scope: ConsentScope
    expires_on: date | None


@dataclass(frozen=True)
class RecordFamilySession:
    patient_id: str
    kind: FamilySessionKind
    held_on: date
    clinician_id: str
    attendance: tuple[Attendance, ...]


async def link_support_person(uow: UnitOfWork, at_site: str, command: LinkSupportPerson
                              ) -> dict[str, Any]:
    """A new support person in the patient's circle; answers the person as linked."""
    circle = await _circle_seen_from(uow, at_site, command.patient_id)
    support_person_id = str(uuid.uuid4())
    circle.link_support_person(support_person_id, command.relationship, command.name)
    [linked, _] = await uow.save(circle)
    return {"support_person_id": support_person_id, "patient_id": circle.id,
            "relationship": command.relationship, "given_name": command.name.given_name,
            "family_name": command.name.family_name, "linked_at": linked.time, "sharing": []}


async def grant_consent(uow: UnitOfWork, at_site: str, command: GrantConsent
                        ) -> dict[str, Any]:
    """The patient consents to share a scope with one person (replacing their live one);
    answers the new consent."""
    circle = await _circle_seen_from(uow, at_site, command.patient_id)
    consent_id = str(uuid.uuid4())
    today = await site_date(uow.conn, circle.site_id)
    circle.grant_consent(consent_id, command.support_person_id, command.scope,
                         command.expires_on, today)
    granted = (await uow.save(circle))[-1]
    return {"consent_id": consent_id, "support_person_id": command.support_person_id,
            "scope": command.scope, "expires_on": command.expires_on,
            "granted_at": granted.time, "revoked_at": None,
            "status": circle.consents[consent_id].status_on(today)}


async def revoke_consent(uow: UnitOfWork, at_site: str, patient_id: str,
                         support_person_id: str, consent_id: str) -> dict[str, Any]:
    """Revoke one consent at once; answers it as revoked."""
    circle = await _circle_seen_from(uow, at_site, patient_id)
    circle.revoke_consent(consent_id, support_person_id)
    await uow.save(circle)
    revoked = await store.consent(uow.conn, consent_id)
    return {**revoked, "status": ConsentStatus.REVOKED}


async def record_family_session(uow: UnitOfWork, at_site: str, command: RecordFamilySession
                                ) -> dict[str, Any]:
    """A family session that was held, with who attended; answers the session."""
    circle = await _circle_seen_from(uow, at_site, command.patient_id)
    session = FamilySession(
        family_session_id=str(uuid.uuid4()), kind=command.kind, held_on=command.held_on,
        clinician_id=command.clinician_id, attendance=command.attendance)
    circle.hold_family_session(session, await site_date(uow.conn, circle.site_id))
    await uow.save(circle)
    attendance = sorted(command.attendance, key=lambda a: a.support_person_id)
    return {"family_session_id": session.family_session_id, "patient_id": circle.id,
            "kind": session.kind, "held_on": session.held_on,
            "clinician_id": session.clinician_id,
            "attendance": [{"support_person_id": a.support_person_id, "attended": a.attended}
                           for a in attendance]}


# The calendar's part (the consent expiry job).

async def expire_consents(uow: UnitOfWork, patient_id: str, now: datetime) -> None:
    """Record the end of every consent of the patient past its last day at ``now``."""
    circle = await uow.load(FamilyCircle, patient_id)
    if circle is None or not circle.is_open:
        return
    circle.expire_consents(await site_date(uow.conn, circle.site_id, now))
    await uow.save(circle)


async def _circle_seen_from(uow: UnitOfWork, at_site: str, patient_id: str) -> FamilyCircle:
    """The patient's open circle, if the caller's site holds it: the event store is not
    confined to a site, so the circle's own site decides."""
    circle = await uow.load(FamilyCircle, patient_id)
    if circle is None or not circle.is_open or at_site not in (circle.site_id, ALL_SITES):
        raise NotFound("patient", patient_id)
    return circle
