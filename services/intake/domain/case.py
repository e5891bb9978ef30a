"""A patient's case from referral to admission: the intake aggregate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from iopnet.aggregate import Aggregate
from iopnet.catalog import (
    DomainEvent,
    PatientAdmitted,
    PatientReferred,
    PatientTransferred,
    ReferralSource,
)


class CaseStatus(StrEnum):
    REFERRED = "referred"
    ADMITTED = "admitted"


class IntakeRuleBroken(Exception):
    """A command the case's current state does not allow."""


@dataclass(frozen=True)
class Referral:
    referral_id: str
    site_id: str
    source: ReferralSource
    referred_on: date


@dataclass(frozen=True)
class Admission:
    program_id: str
    start_date: date
    days_per_week: int
    planned_weeks: int
    clinician_id: str


class PatientCase(Aggregate):
    """One patient's intake, rebuilt from its events."""

    stream_prefix = "patient"

    def __init__(self, patient_id: str) -> None:
        super().__init__(patient_id)
        self.site_id = ""
        self.status: CaseStatus | None = None

    @property
    def patient_id(self) -> str:
        return self.id

    def refer(self, referral: Referral) -> None:
        if self.status is not None:
            raise IntakeRuleBroken("this patient has already been referred")
        self.record(PatientReferred(
            patient_id=self.id, site_id=referral.site_id, referral_id=referral.referral_id,
            source=referral.source, referred_on=referral.referred_on,
        ))

    def admit(self, admission: Admission) -> None:
        if self.status is CaseStatus.ADMITTED:
            raise IntakeRuleBroken("this patient is already admitted")
        if self.status is not CaseStatus.REFERRED:
            raise IntakeRuleBroken("only a referred patient can be admitted")
        self.record(PatientAdmitted(
            patient_id=self.id, site_id=self.site_id,
            program_id=admission.program_id, start_date=admission.start_date,
            days_per_week=admission.days_per_week, planned_weeks=admission.planned_weeks,
            clinician_id=admission.clinician_id,
        ))

    def transfer(self, to_site_id: str) -> None:
        if to_site_id == self.site_id:
            raise IntakeRuleBroken("the patient is already at that site")
        self.record(PatientTransferred(
            patient_id=self.id, site_id=to_site_id, from_site_id=self.site_id,
        ))

    def apply(self, event: DomainEvent) -> None:
        match event:
            case PatientReferred():
                self.site_id = event.site_id
                self.status = CaseStatus.REFERRED
            case PatientAdmitted():
                self.status = CaseStatus.ADMITTED
            case PatientTransferred():
                self.site_id = event.site_id
