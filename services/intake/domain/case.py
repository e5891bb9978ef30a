"""A patient's case from referral to admission: the intake aggregate."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from iopnet.catalog import DomainEvent, PatientAdmitted, PatientReferred, ReferralSource


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


def stream_of(patient_id: str) -> str:
    return f"patient-{patient_id}"


@dataclass
class PatientCase:
    """The aggregate: one patient's intake, rebuilt from its events."""

    patient_id: str
    site_id: str = ""
    status: CaseStatus | None = None
    version: int = 0
    pending: list[DomainEvent] = field(default_factory=list)

    @classmethod
    def from_history(cls, patient_id: str, history: Iterable[DomainEvent]) -> PatientCase:
        case = cls(patient_id)
        for event in history:
            case._apply(event)
            case.version += 1
        return case

    def refer(self, referral: Referral) -> None:
        if self.status is not None:
            raise IntakeRuleBroken("this patient has already been referred")
        self._record(PatientReferred(
            patient_id=self.patient_id, site_id=referral.site_id,
            referral_id=referral.referral_id, source=referral.source,
            referred_on=referral.referred_on,
        ))

    def admit(self, admission: Admission) -> None:
        if self.status is CaseStatus.ADMITTED:
            raise IntakeRuleBroken("this patient is already admitted")
        if self.status is not CaseStatus.REFERRED:
            raise IntakeRuleBroken("only a referred patient can be admitted")
        self._record(PatientAdmitted(
            patient_id=self.patient_id, site_id=self.site_id,
            program_id=admission.program_id, start_date=admission.start_date,
            days_per_week=admission.days_per_week, planned_weeks=admission.planned_weeks,
            clinician_id=admission.clinician_id,
        ))

    def mark_saved(self) -> None:
        self.version += len(self.pending)
        self.pending.clear()

    def _record(self, event: DomainEvent) -> None:
        self._apply(event)
        self.pending.append(event)

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case PatientReferred():
                self.site_id = event.site_id
                self.status = CaseStatus.REFERRED
            case PatientAdmitted():
                self.status = CaseStatus.ADMITTED
