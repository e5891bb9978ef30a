"""Schema evolution: an event recorded at an older ``schemaversion`` is read as the current one.

An upcaster takes the data of one version to the next; they are keyed by
event type and the version they start from, and run in turn, both when a
service reads its own store and when it consumes another's events. Additive
changes need none (readers ignore what they do not know, and new fields have
defaults); an upcaster states the change explicitly all the same, so every
version bump says what it changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from iopnet.catalog.base import DomainEvent, event_class_of
from iopnet.catalog.codes import IOP_MIN_WEEKLY_HOURS, PHP_MIN_WEEKLY_HOURS
from iopnet.catalog.family import ConsentGranted, ConsentRevoked
from iopnet.catalog.intake import AdmissionDeclined, PatientAdmitted, PatientReferred
from iopnet.catalog.network import SiteOnboarded, SitePoliciesChanged
from iopnet.catalog.plans import ExitSummarized
from iopnet.catalog.sessions import OutcomeMeasured
from iopnet.envelope import EventEnvelope

Data = dict[str, Any]
Upcaster = Callable[[Data], Data]

#: (event type, version it takes data from) → the function giving version + 1.
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event_class: type[DomainEvent], from_version: int
             ) -> Callable[[Upcaster], Upcaster]:
    def register(upcast_data: Upcaster) -> Upcaster:
        UPCASTERS[(event_class.event_type, from_version)] = upcast_data
        return upcast_data

    return register


class MissingUpcaster(LookupError):
    """An event at a version no upcaster leads on from."""


def upcast(envelope: EventEnvelope) -> Data:
    """The envelope's data at its event class's current version.

    Data from a newer producer (a higher version) is read as it is: the tolerant
    reader keeps what it knows.
    """
    target = event_class_of(envelope).schema_version
    data, version = envelope.data, envelope.schemaversion
    while version < target:
        try:
            data = UPCASTERS[(envelope.type, version)](data)
        except KeyError:
            raise MissingUpcaster(f"{envelope.type} v{version}") from None
        version += 1
    return data


def parse_event(envelope: EventEnvelope) -> DomainEvent:
    """The typed event inside an envelope, upcast to its current version.

    Raises UnknownEventType, MissingUpcaster or pydantic's ValidationError.
    """
    return event_class_of(envelope).model_validate(upcast(envelope))


@upcaster(ConsentRevoked, 1)
def consent_revoked_replaced_by(data: Data) -> Data:
    """v2 says whether a new grant replaced the consent; v1 revocations were all final."""
    return {**data, "replaced_by": None}


@upcaster(PatientAdmitted, 1)
def patient_admitted_decided_by(data: Data) -> Data:
    """v2 names who decided; in v1 the clinician given with the admission decided it, and
    no safety plan was asked for."""
    return {**data, "decided_by": data["clinician_id"], "safety_plan_id": None}


@upcaster(AdmissionDeclined, 1)
def admission_declined_decided_by(data: Data) -> Data:
    """v2 names who decided, and whether against the rules; v1 recorded neither: unknown."""
    return {**data, "decided_by": None, "overridden": None, "rules_level": None}


@upcaster(PatientReferred, 1)
def patient_referred_age(data: Data) -> Data:
    """v2 says the patient's age at referral; v1 did not record it."""
    return {**data, "age_at_referral": None}


@upcaster(ConsentGranted, 1)
def consent_granted_covers(data: Data) -> Data:
    """v2 says what the consent covers. At v1 there were two scopes: progress summaries
    covered the schedule too, the schedule only itself; neither covered participation."""
    scope = data.get("scope")
    covers = ["progress_summaries", "schedule"] if scope == "progress_summaries" else [scope]
    return {**data, "covers": covers}


def iop_hours_policy(data: Data) -> Data:
    """v2 holds a site's weekly minimum to an IOP's 9 to under 20 hours; a v1 policy outside
    that range reads as the nearest IOP minimum it allowed (the floor, or 19)."""
    policies = data.get("policies")
    if not isinstance(policies, dict) or "attendance_min_weekly_hours" not in policies:
        return data
    hours = float(policies["attendance_min_weekly_hours"])
    bounded = min(max(hours, IOP_MIN_WEEKLY_HOURS), PHP_MIN_WEEKLY_HOURS - 1)
    return {**data, "policies": {**policies, "attendance_min_weekly_hours": bounded}}


upcaster(SiteOnboarded, 1)(iop_hours_policy)
upcaster(SitePoliciesChanged, 1)(iop_hours_policy)


@upcaster(OutcomeMeasured, 1)
def outcome_measured_risk_level(data: Data) -> Data:
    """v2 carries a C-SSRS's triage; v1 measures were all PHQ-9s, which have none."""
    return {**data, "risk_level": None}


@upcaster(ExitSummarized, 1)
def exit_summarized_safety_plan_review(data: Data) -> Data:
    """v2 says whether the safety plan was reviewed since the latest risk finding; v1
    summaries did not know (their ``safety_plan`` read ``unknown``)."""
    return {**data, "safety_plan_reviewed_since_risk": None}
