"""Certification of the need for IOP, and minors: pinned at their boundaries."""

from datetime import date

import pytest

from iopnet.catalog import PatientCertified, PatientReferred, ReferralSource, parse_event
from iopnet.envelope import EventEnvelope
from iopnet.fields import InvalidField
from services.intake.domain import Identity, IntakeRuleBroken, PatientCase, Referral
from services.intake.domain.certification import certification, months_after
from services.intake.domain.minors import (
    age_on,
    ages_served,
    require_guardian,
    require_program_fits,
)
from services.intake.domain.private_events import Guardian

pytestmark = pytest.mark.unit

TODAY = date(2026, 11, 25)
REFERRED = date(2026, 11, 20)


@pytest.mark.parametrize(("code", "valid"), [
    ("F32.0", True), ("F32.9", True), ("F32.81", True), ("F32.A", True), ("F33.1", True),
    ("F33.41", True), ("F32", False), ("F34.1", False), ("f33.1", False), ("F33.123", False),
    ("F31.9", False), ("F33.B", False),
])
def test_diagnoses_are_icd10cm_f32_or_f33(code: str, valid: bool) -> None:
    if valid:
        assert certification("dr-a", TODAY, [code], TODAY, REFERRED).diagnosis_codes == (code,)
    else:
        with pytest.raises(InvalidField) as refused:
            certification("dr-a", TODAY, ["F33.1", code], TODAY, REFERRED)
        assert refused.value.pointer == "#/certification/diagnosis_codes/1"


@pytest.mark.parametrize(("certified_on", "recertify_by"), [
    (date(2026, 11, 25), date(2027, 1, 25)),
    (date(2026, 12, 31), date(2027, 2, 28)),
    (date(2027, 12, 31), date(2028, 2, 29)),
])
def test_recertification_is_due_every_other_month(certified_on: date, recertify_by: date
                                                  ) -> None:
    certified = certification("dr-a", certified_on, ["F33.1"], certified_on, REFERRED)
    assert certified.recertify_by == recertify_by
    assert not certified.overdue_on(recertify_by)
    assert certified.overdue_on(date.fromordinal(recertify_by.toordinal() + 1))


@pytest.mark.parametrize("certified_on", [date(2026, 11, 26), date(2026, 11, 19)])
def test_a_certification_in_the_future_or_before_the_referral_is_refused(certified_on: date
                                                                         ) -> None:
    with pytest.raises(InvalidField) as refused:
        certification("dr-a", certified_on, ["F33.1"], TODAY, REFERRED)
    assert refused.value.pointer == "#/certification/certified_on"


def test_a_certification_on_the_day_of_the_referral_is_accepted() -> None:
    assert certification("dr-a", REFERRED, ["F33.1"], TODAY, REFERRED).certified_on == REFERRED


@pytest.mark.parametrize(("referred_on", "needs_guardian"), [
    (date(2026, 3, 14), True), (date(2026, 3, 15), False)])
def test_a_guardian_is_needed_until_the_18th_birthday(referred_on: date, needs_guardian: bool
                                                      ) -> None:
    born = date(2008, 3, 15)
    if needs_guardian:
        with pytest.raises(InvalidField) as refused:
            require_guardian(born, referred_on, has_guardian=False)
        assert refused.value.pointer == "#/patient/guardian"
    else:
        assert require_guardian(born, referred_on, has_guardian=False) == 18


def test_only_an_admitted_patient_is_certified() -> None:
    case = PatientCase("p-1")
    case.refer(Referral("r-1", "s-1", ReferralSource.SELF, REFERRED),
               Identity(given_name="A", family_name="B", birth_date=date(1990, 1, 1)))
    with pytest.raises(IntakeRuleBroken):
        case.certify("c-1", certification("dr-a", TODAY, ["F33.1"], TODAY, REFERRED))


def test_months_after_keeps_the_day_or_the_month_end() -> None:
    assert months_after(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert months_after(date(2026, 11, 30), 2) == date(2027, 1, 30)


@pytest.mark.parametrize(("born", "on", "age"), [
    (date(2008, 11, 25), date(2026, 11, 25), 18), (date(2008, 11, 26), date(2026, 11, 25), 17),
    (date(2008, 2, 29), date(2026, 2, 28), 17), (date(2008, 2, 29), date(2026, 3, 1), 18),
])
def test_age_counts_whole_years(born: date, on: date, age: int) -> None:
    assert age_on(born, on) == age


@pytest.mark.parametrize(("program_id", "served"), [
    ("iop-adult", range(18, 200)), ("iop-adolescent", range(12, 18)),
    ("north.Adolescent.iop", range(12, 18)), ("iop-adolescents", range(18, 200)),
])
def test_a_program_states_its_ages_by_its_id(program_id: str, served: range) -> None:
    assert ages_served(program_id) == served


@pytest.mark.parametrize(("program_id", "born", "fits"), [
    ("iop-adult", date(2008, 12, 1), True), ("iop-adult", date(2008, 12, 2), False),
    ("iop-adolescent", date(2008, 12, 2), True), ("iop-adolescent", date(2008, 12, 1), False),
    ("iop-adolescent", date(2014, 12, 1), True), ("iop-adolescent", date(2014, 12, 2), False),
])
def test_a_patient_outside_the_programs_ages_is_refused(program_id: str, born: date,
                                                        fits: bool) -> None:
    start = date(2026, 12, 1)
    if fits:
        require_program_fits(program_id, born, start)
    else:
        with pytest.raises(InvalidField) as refused:
            require_program_fits(program_id, born, start)
        assert refused.value.pointer == "#/program_id"


def test_a_minor_is_referred_with_a_guardian_and_the_age_travels() -> None:
    minor = Identity(given_name="Sam", family_name="B", birth_date=date(2010, 6, 1))
    referral = Referral("r-1", "s-1", ReferralSource.PROVIDER, REFERRED)
    with pytest.raises(InvalidField) as refused:
        PatientCase("p-1").refer(referral, minor)
    assert refused.value.pointer == "#/patient/guardian"
    case = PatientCase("p-1")
    case.refer(referral, minor.model_copy(update={"guardian": Guardian(
        given_name="Ann", family_name="B", relationship="mother")}))
    referred = case.pending[0]
    assert isinstance(referred, PatientReferred) and referred.age_at_referral == 16


def test_a_v1_referral_reads_with_no_age() -> None:
    v1 = {"patient_id": "p-1", "site_id": "s-1", "referral_id": "r-1", "source": "self",
          "referred_on": "2026-11-20"}
    envelope = EventEnvelope(source="/iopnet/intake", type=PatientReferred.event_type,
                             subject="p-1", siteid="s-1", streamid="patient-p-1",
                             streamversion=1, correlationid="c", causationid="c",
                             schemaversion=1, data=v1)
    referred = parse_event(envelope)
    assert isinstance(referred, PatientReferred) and referred.age_at_referral is None


def test_certified_event_names_the_day_recertification_is_due() -> None:
    assert set(PatientCertified.model_fields) >= {"certified_by", "certified_on",
                                                  "diagnosis_codes", "recertify_by"}
