from datetime import date

import pytest

from iopnet.catalog import PatientAdmitted, PatientReferred, ReferralSource
from services.intake.domain import (
    Admission,
    CaseStatus,
    IntakeRuleBroken,
    PatientCase,
    Referral,
)

pytestmark = pytest.mark.unit

REFERRAL = Referral("r-1", "site-a", ReferralSource.PROVIDER, date(2026, 11, 20))
ADMISSION = Admission("iop-adult", date(2026, 12, 1), 4, 10, "c-7")


def test_referral_records_patient_referred() -> None:
    case = PatientCase("p-1")
    case.refer(REFERRAL)
    assert case.status is CaseStatus.REFERRED
    assert isinstance(case.pending[0], PatientReferred)


def test_admission_of_a_referred_patient_records_patient_admitted() -> None:
    case = PatientCase("p-1")
    case.refer(REFERRAL)
    case.admit(ADMISSION)
    admitted = case.pending[-1]
    assert isinstance(admitted, PatientAdmitted)
    assert admitted.site_id == "site-a"
    assert case.status is CaseStatus.ADMITTED


def test_a_case_rebuilt_from_history_is_at_its_version() -> None:
    case = PatientCase("p-1")
    case.refer(REFERRAL)
    case.admit(ADMISSION)
    rebuilt = PatientCase.rebuild("p-1", case.pending)
    assert (rebuilt.version, rebuilt.status, rebuilt.pending) == (2, CaseStatus.ADMITTED, [])


def test_cannot_admit_twice_or_without_referral() -> None:
    with pytest.raises(IntakeRuleBroken):
        PatientCase("p-1").admit(ADMISSION)
    case = PatientCase("p-1")
    case.refer(REFERRAL)
    case.admit(ADMISSION)
    with pytest.raises(IntakeRuleBroken):
        case.admit(ADMISSION)


def test_cannot_refer_twice() -> None:
    case = PatientCase("p-1")
    case.refer(REFERRAL)
    with pytest.raises(IntakeRuleBroken):
        case.refer(REFERRAL)
