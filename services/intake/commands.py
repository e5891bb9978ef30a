"""Intake's use cases, one function each, every one in one unit of work.

A handler loads aggregates from their own streams, changes them through their
commands and saves them; the tables follow through ``projections.project`` in
the same transaction. Routes call exactly one of these.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from iopnet.auth.keys import new_key
from iopnet.catalog import LevelOfCare, ReferralSource, Scope, SitePolicies, parse_event
from iopnet.db import Connection
from iopnet.eventstore import Cause, EventStore
from iopnet.fields import InvalidField
from iopnet.problems import Problem, not_found
from iopnet.topics import network_topic
from iopnet.unit_of_work import UnitOfWork
from services.intake import projections
from services.intake.domain import (
    Admission,
    ApiKey,
    AssessmentIncomplete,
    ClinicianNote,
    ForgettingOrder,
    Identity,
    PatientCase,
    Recommendation,
    Referral,
    SafetyPlan,
    Scored,
    Site,
    decide,
    recommend,
    retained_until,
)
from services.intake.domain.certification import certification
from services.intake.domain.level_of_care import Assessment


def unit_of_work(conn: Connection, events: EventStore, cause: Cause) -> UnitOfWork:
    """Intake's unit of work: its own events project into its tables as they are saved."""
    return UnitOfWork(conn, events, cause, project=projections.project,
                      project_all=projections.project_saved,
                      project_riding=projections.riding)


@dataclass(frozen=True)
class Decline:
    clinician_id: str
    level: LevelOfCare | None = None  # the recommended one by default
    override_reason: str | None = None


@dataclass(frozen=True)
class CertificationOrder:
    """A physician's certification as the request gives it (the day defaults to today)."""

    certified_by: str
    diagnosis_codes: list[str]
    certified_on: date | None = None


@dataclass(frozen=True)
class RiskReview:
    note: ClinicianNote
    findings_cleared: bool


@dataclass(frozen=True)
class KeyAndSecret:
    key: ApiKey
    plaintext: str  # shown once, never stored


# --- The patient's case -----------------------------------------------------------------------


async def refer(uow: UnitOfWork, site_id: str, source: ReferralSource,
                referred_on: date | None, identity: Identity) -> PatientCase:
    """Refer a patient; dates are checked against, and default to, the site's today."""
    today = await uow.site_date(site_id)
    if referred_on is not None and referred_on > today:
        raise InvalidField("referred_on", f"{referred_on} is after today ({today}) at the site")
    if identity.birth_date > today:
        raise InvalidField("patient.birth_date",
                           f"{identity.birth_date} is after today ({today}) at the site")
    case = PatientCase(str(uuid.uuid4()))
    case.refer(Referral(str(uuid.uuid4()), site_id, source, referred_on or today), identity)
    await uow.save(case)
    return case


async def record_assessment(uow: UnitOfWork, patient_id: str, scored: Scored,
                            on: date | None, clinician_id: str | None) -> tuple[str, date]:
    """Record one instrument (on the site's today unless told); its id and its day."""
    case = await _visible_case(uow, patient_id)
    today = await uow.site_date(case.site_id)
    assessment_id = str(uuid.uuid4())
    case.record_assessment(assessment_id, scored, on or today, today, clinician_id)
    await uow.save(case)
    return assessment_id, on or today


async def correct_in_error(uow: UnitOfWork, patient_id: str, assessment_id: str,
                           note: ClinicianNote) -> PatientCase:
    """An assessment entered in error stops counting, its risk findings included."""
    case = await _visible_case(uow, patient_id)
    if assessment_id not in case.recorded:
        raise not_found("assessment", assessment_id)
    case.correct_in_error(assessment_id, note, await uow.site_date(case.site_id))
    await uow.save(case)
    return case


async def review_risk(uow: UnitOfWork, patient_id: str, review: RiskReview) -> str:
    """A clinician's documented risk review; its id."""
    case = await _visible_case(uow, patient_id)
    review_id = str(uuid.uuid4())
    case.review_risk(review_id, review.note, review.findings_cleared,
                     await uow.site_date(case.site_id))
    await uow.save(case)
    return review_id


async def write_safety_plan(uow: UnitOfWork, patient_id: str, plan: SafetyPlan,
                            clinician_id: str) -> PatientCase:
    """Record the safety plan, or review (and rewrite) the one in force."""
    case = await _visible_case(uow, patient_id)
    case.write_safety_plan(str(uuid.uuid4()), plan, clinician_id,
                           await uow.site_date(case.site_id))
    await uow.save(case)
    return case


async def read_case(uow: UnitOfWork, patient_id: str) -> PatientCase:
    return await _visible_case(uow, patient_id)


async def recommendation(uow: UnitOfWork, patient_id: str) -> Recommendation:
    """What the level-of-care rules recommend today from the answers inside their windows."""
    case = await _visible_case(uow, patient_id)
    return recommend(await _assessment(uow, case))


async def admit(uow: UnitOfWork, patient_id: str, admission: Admission,
                override_reason: str | None, decided_by: str | None = None,
                certified: CertificationOrder | None = None) -> PatientCase:
    """Admit to the IOP: as recommended, or against the rules with a clinician's reason;
    with the physician's certification of the need when it is given."""
    case = await _visible_case(uow, patient_id)
    assessment = await _assessment(uow, case)
    decision = decide(recommend(assessment), LevelOfCare.IOP, override_reason,
                      decided_by or admission.clinician_id)
    case.admit(admission, assessment, decision)
    if certified is not None:
        await _certify(uow, case, certified)
    await uow.save(case)
    return case


async def certify(uow: UnitOfWork, patient_id: str, certified: CertificationOrder
                  ) -> PatientCase:
    """A physician certifies, or recertifies, an admitted patient's need for IOP."""
    case = await _visible_case(uow, patient_id)
    await _certify(uow, case, certified)
    await uow.save(case)
    return case


async def _certify(uow: UnitOfWork, case: PatientCase, certified: CertificationOrder) -> None:
    today = await uow.site_date(case.site_id)
    assert case.referral is not None
    case.certify(str(uuid.uuid4()), certification(
        certified.certified_by, certified.certified_on or today, certified.diagnosis_codes,
        today, case.referral.referred_on))


async def decline(uow: UnitOfWork, patient_id: str, order: Decline
                  ) -> tuple[PatientCase, Recommendation]:
    """Not an IOP admission: refer to the recommended level (or another, with a reason)."""
    case = await _visible_case(uow, patient_id)
    recommended = recommend(await _assessment(uow, case))
    case.decline(decide(recommended, order.level or recommended.level, order.override_reason,
                        order.clinician_id))
    await uow.save(case)
    return case, recommended


async def transfer(uow: UnitOfWork, patient_id: str, to_site_id: str) -> PatientCase:
    """Move a patient's care to another site (network operator): the old site keeps history."""
    site = await uow.load(Site, to_site_id)
    if site is None or not site.onboarded:
        raise Problem(422, "validation", "No such site", errors=[{"pointer": "#/to_site_id"}])
    case = await _visible_case(uow, patient_id)
    case.transfer(to_site_id)
    await uow.save(case)
    return case


async def forget(uow: UnitOfWork, patient_id: str, order: ForgettingOrder, now: datetime
                 ) -> PatientCase:
    """Forget the patient network-wide, once the site's retention period is over.

    The period counts from the patient's last event here; an override forgets
    sooner. Forgetting twice changes nothing.
    """
    history = await uow.events.read_stream(uow.conn, f"{PatientCase.stream_prefix}-{patient_id}")
    if not history:
        raise not_found("patient", patient_id)
    case = PatientCase.rebuild(patient_id, (parse_event(e) for e in history))
    if case.forgotten:
        return case
    site = await uow.load(Site, case.site_id)
    policies = site.policies if site is not None else SitePolicies()
    until = retained_until(history[-1].time.date(), policies.record_retention_years)
    case.forget(order, until, now.date())
    await uow.save(case)
    return case


async def _visible_case(uow: UnitOfWork, patient_id: str) -> PatientCase:
    """The case from its stream, if the caller's site sees the patient (a forgotten one: no)
    in ``patients`` (``store.is_visible``), checked in the stream's read."""
    case = await uow.load(PatientCase, patient_id, visible_in="patients")
    if case is None:
        raise not_found("patient", patient_id)
    return case


async def _assessment(uow: UnitOfWork, case: PatientCase) -> Assessment:
    """What a decision made today at the site rests on."""
    try:
        return case.initial_assessment(await uow.site_date(case.site_id))
    except AssessmentIncomplete as incomplete:
        raise Problem(409, "assessment-incomplete", "The assessment is not complete",
                      str(incomplete)) from incomplete


# --- The network registry ---------------------------------------------------------------------


async def onboard_site(uow: UnitOfWork, site_id: str, name: str, time_zone: str,
                       policies: SitePolicies) -> Site:
    site = await uow.load(Site, site_id) or Site(site_id)
    site.onboard(name, time_zone, policies)
    await uow.save(site, topic=network_topic())
    return site


async def change_policies(uow: UnitOfWork, site_id: str, policies: SitePolicies) -> Site:
    site = await _site(uow, site_id)
    site.change_policies(policies)
    await uow.save(site, topic=network_topic())
    return site


async def issue_key(uow: UnitOfWork, site_id: str, scopes: list[Scope],
                    expires_at: datetime | None, rate_limit_per_minute: int) -> KeyAndSecret:
    site = await _site(uow, site_id)
    material = new_key()
    key = ApiKey.issue(site, material, scopes, expires_at=expires_at,
                       rate_limit_per_minute=rate_limit_per_minute)
    await uow.save(key, topic=network_topic())
    return KeyAndSecret(key, material.plaintext)


async def rotate_key(uow: UnitOfWork, key_id: str, expires_at: datetime | None) -> KeyAndSecret:
    """A successor key; the old one keeps working until it is revoked."""
    old = await _key(uow, key_id)
    material = new_key()
    successor = old.rotate(await _site(uow, old.site_id), material, expires_at)
    await uow.save(successor, topic=network_topic())
    return KeyAndSecret(successor, material.plaintext)


async def revoke_key(uow: UnitOfWork, key_id: str) -> None:
    key = await _key(uow, key_id)
    key.revoke()
    await uow.save(key, topic=network_topic())


async def _site(uow: UnitOfWork, site_id: str) -> Site:
    site = await uow.load(Site, site_id)
    if site is None:
        raise not_found("site", site_id)
    return site


async def _key(uow: UnitOfWork, key_id: str) -> ApiKey:
    key = await uow.load(ApiKey, key_id)
    if key is None:
        raise not_found("key", key_id)
    return key
