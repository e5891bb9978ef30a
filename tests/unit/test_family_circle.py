"""The family circle aggregate: support persons, consent rules, family sessions."""

from datetime import date, timedelta

import pytest

from iopnet.catalog import (
    ConsentExpired,
    ConsentGranted,
    ConsentRevoked,
    ConsentScope,
    DomainEvent,
    FamilySessionHeld,
    Relationship,
    SupportPersonLinked,
)
from services.family.domain import (
    Attendance,
    ConsentAlreadyRevoked,
    ConsentStatus,
    FamilyCircle,
    FamilyRuleBroken,
    FamilySession,
    FamilySessionKind,
    InvalidRequest,
    NotFound,
    PersonName,
)
from services.family.domain.events import (
    AttendanceEntry,
    FamilyCircleForgotten,
    FamilyCircleMoved,
    FamilyCircleOpened,
    FamilySessionRecorded,
    SupportPersonNamed,
)

pytestmark = pytest.mark.unit

TODAY = date(2026, 12, 10)
PATIENT = "00000000-0000-0000-0000-000000000001"
SCHEDULE = ConsentScope.SCHEDULE
PROGRESS = ConsentScope.PROGRESS_SUMMARIES
GRACE = PersonName("Grace", "Example")


def circle_with(*support_persons: str) -> FamilyCircle:
    circle = FamilyCircle(PATIENT, "site-a")
    for person in support_persons:
        circle.link_support_person(person, Relationship.PARENT, GRACE)
    circle.mark_saved()
    return circle


def rebuilt(circle: FamilyCircle, events: list[DomainEvent]) -> FamilyCircle:
    again = FamilyCircle.rebuild(PATIENT, events)
    again.site_id = circle.site_id
    return again


def session(*attendance: Attendance, held_on: date = TODAY) -> FamilySession:
    return FamilySession("fs-1", FamilySessionKind.FAMILY_THERAPY, held_on, "clin-7",
                         tuple(attendance))


def test_linking_publishes_only_ids_and_the_relationship_and_keeps_the_name_sealed() -> None:
    circle = FamilyCircle(PATIENT, "site-a")
    circle.link_support_person("sp-1", Relationship.PARTNER, GRACE)
    [event, named] = circle.pending
    assert event == SupportPersonLinked(site_id="site-a", patient_id=PATIENT,
                                        support_person_id="sp-1",
                                        relationship=Relationship.PARTNER)
    assert set(event.model_dump()) == {"site_id", "patient_id", "support_person_id",
                                       "relationship"}
    assert event.published
    assert named == SupportPersonNamed(site_id="site-a", patient_id=PATIENT,
                                       support_person_id="sp-1", given_name="Grace",
                                       family_name="Example")
    assert not named.published
    assert set(named.sealed_fields) == {"given_name", "family_name"}


def test_a_circle_opens_once_follows_a_transfer_and_closes_when_forgotten() -> None:
    circle = FamilyCircle(PATIENT)
    assert not circle.is_open
    circle.move_to("site-b")
    assert circle.pending == []  # nothing to move before it opens
    circle.open("site-a", TODAY, 18)
    circle.open("site-c", TODAY, 9)  # a later admission changes nothing
    circle.move_to("site-b")
    circle.move_to("site-b")
    circle.forget()
    circle.forget()
    assert circle.pending == [
        FamilyCircleOpened(site_id="site-a", patient_id=PATIENT, admitted_on=TODAY,
                           baseline_phq9=18),
        FamilyCircleMoved(site_id="site-b", patient_id=PATIENT, from_site_id="site-a"),
        FamilyCircleForgotten(site_id="site-b", patient_id=PATIENT)]
    again = FamilyCircle.rebuild(PATIENT, circle.pending[:2])
    assert (again.site_id, again.is_open) == ("site-b", True)
    assert not FamilyCircle.rebuild(PATIENT, circle.pending).is_open


def test_consent_is_granted_to_a_linked_person() -> None:
    circle = circle_with("sp-1")
    circle.grant_consent("c-1", "sp-1", SCHEDULE, None, TODAY)
    assert circle.pending == [ConsentGranted(site_id="site-a", patient_id=PATIENT,
                                             consent_id="c-1", support_person_id="sp-1",
                                             scope=SCHEDULE, covers=[SCHEDULE])]
    assert circle.shared_with("sp-1", TODAY) == {SCHEDULE}


def test_no_consent_for_a_person_who_is_not_linked() -> None:
    circle = circle_with("sp-1")
    with pytest.raises(NotFound) as missing:
        circle.grant_consent("c-1", "sp-2", SCHEDULE, None, TODAY)
    assert (missing.value.resource, missing.value.identifier) == ("support person", "sp-2")
    assert circle.pending == []


def test_an_expiry_in_the_past_is_refused_with_the_field() -> None:
    circle = circle_with("sp-1")
    with pytest.raises(InvalidRequest) as refused:
        circle.grant_consent("c-1", "sp-1", SCHEDULE, TODAY - timedelta(days=1), TODAY)
    assert refused.value.pointer == "#/expires_on"


def test_an_expiry_today_is_accepted() -> None:
    circle = circle_with("sp-1")
    circle.grant_consent("c-1", "sp-1", PROGRESS, TODAY, TODAY)
    assert circle.shared_with("sp-1", TODAY) == {PROGRESS, SCHEDULE}
    assert circle.shared_with("sp-1", TODAY + timedelta(days=1)) == set()


def test_a_new_grant_replaces_the_live_one_by_revoking_it() -> None:
    circle = circle_with("sp-1")
    circle.grant_consent("c-1", "sp-1", SCHEDULE, None, TODAY)
    circle.grant_consent("c-2", "sp-1", PROGRESS, None, TODAY)
    assert [type(e) for e in circle.pending] == [ConsentGranted, ConsentRevoked, ConsentGranted]
    assert circle.pending[1] == ConsentRevoked(site_id="site-a", patient_id=PATIENT,
                                               consent_id="c-1", support_person_id="sp-1",
                                               replaced_by="c-2")
    circle.revoke_consent("c-2", "sp-1")
    assert circle.pending[-1].replaced_by is None  # type: ignore[attr-defined]
    assert circle.shared_with("sp-1", TODAY) == set()


def test_a_grant_leaves_other_persons_consents_alone() -> None:
    circle = circle_with("sp-1", "sp-2")
    circle.grant_consent("c-1", "sp-1", PROGRESS, None, TODAY)
    circle.grant_consent("c-2", "sp-2", SCHEDULE, None, TODAY)
    assert circle.shared_with("sp-1", TODAY) == {PROGRESS, SCHEDULE}
    assert circle.shared_with("sp-2", TODAY) == {SCHEDULE}


def test_revocation_is_immediate() -> None:
    circle = circle_with("sp-1")
    circle.grant_consent("c-1", "sp-1", PROGRESS, TODAY + timedelta(days=90), TODAY)
    circle.revoke_consent("c-1", "sp-1")
    assert circle.shared_with("sp-1", TODAY) == set()


def test_revoking_twice_is_refused() -> None:
    circle = circle_with("sp-1")
    circle.grant_consent("c-1", "sp-1", SCHEDULE, None, TODAY)
    circle.revoke_consent("c-1", "sp-1")
    with pytest.raises(ConsentAlreadyRevoked):
        circle.revoke_consent("c-1", "sp-1")
    assert issubclass(ConsentAlreadyRevoked, FamilyRuleBroken)


def test_revoking_survives_a_rebuild_from_the_events() -> None:
    circle = circle_with("sp-1")
    circle.grant_consent("c-1", "sp-1", SCHEDULE, None, TODAY)
    circle.revoke_consent("c-1", "sp-1")
    history = [SupportPersonLinked(site_id="site-a", patient_id=PATIENT,
                                   support_person_id="sp-1", relationship=Relationship.PARENT),
               *circle.pending]
    again = rebuilt(circle, history)
    assert again.version == 3
    with pytest.raises(ConsentAlreadyRevoked):
        again.revoke_consent("c-1", "sp-1")


def test_an_unknown_consent_or_another_persons_consent_is_not_found() -> None:
    circle = circle_with("sp-1", "sp-2")
    circle.grant_consent("c-1", "sp-1", SCHEDULE, None, TODAY)
    with pytest.raises(NotFound) as unknown:
        circle.revoke_consent("c-9", "sp-1")
    with pytest.raises(NotFound) as others:
        circle.revoke_consent("c-1", "sp-2")
    # The 404's problem names what is missing (services/family/api/common.py).
    assert (unknown.value.resource, unknown.value.identifier) == ("consent", "c-9")
    assert (others.value.resource, others.value.identifier) == ("consent", "c-1")


def test_a_family_session_records_how_many_were_present_not_who() -> None:
    circle = circle_with("sp-1", "sp-2")
    circle.hold_family_session(session(Attendance("sp-1", True), Attendance("sp-2", False)),
                               TODAY)
    assert circle.pending == [FamilySessionHeld(
        site_id="site-a", patient_id=PATIENT, family_session_id="fs-1", kind="family_therapy",
        held_on=TODAY, support_persons_present=1), FamilySessionRecorded(
        site_id="site-a", patient_id=PATIENT, family_session_id="fs-1", kind="family_therapy",
        held_on=TODAY, clinician_id="clin-7",
        attendance=(AttendanceEntry(support_person_id="sp-1", attended=True),
                    AttendanceEntry(support_person_id="sp-2", attended=False)))]
    assert circle.pending[0].published and not circle.pending[1].published


def test_a_family_session_cannot_be_held_in_the_future() -> None:
    circle = circle_with("sp-1")
    with pytest.raises(InvalidRequest) as refused:
        circle.hold_family_session(
            session(Attendance("sp-1", True), held_on=TODAY + timedelta(days=1)), TODAY)
    assert refused.value.pointer == "#/held_on"


def test_family_session_attendance_names_only_linked_persons_once() -> None:
    circle = circle_with("sp-1")
    with pytest.raises(InvalidRequest) as unknown:
        circle.hold_family_session(session(Attendance("sp-1", True), Attendance("sp-9", True)),
                                   TODAY)
    assert unknown.value.pointer == "#/attendance/1/support_person_id"
    with pytest.raises(InvalidRequest) as twice:
        circle.hold_family_session(session(Attendance("sp-1", True), Attendance("sp-1", False)),
                                   TODAY)
    assert twice.value.pointer == "#/attendance/1/support_person_id"
    assert circle.pending == []


def expiries(circle: FamilyCircle) -> list[ConsentExpired]:
    return [e for e in circle.pending if isinstance(e, ConsentExpired)]


def test_a_consent_expires_the_day_after_its_last_day_once() -> None:
    circle = circle_with("sp-1")
    circle.grant_consent("c-1", "sp-1", PROGRESS, TODAY, TODAY)
    circle.expire_consents(TODAY)  # its last day: it still holds
    assert expiries(circle) == []
    circle.expire_consents(TODAY + timedelta(days=3))
    assert expiries(circle) == [ConsentExpired(
        site_id="site-a", patient_id=PATIENT, consent_id="c-1", support_person_id="sp-1",
        expired_on=TODAY + timedelta(days=1))]  # the first day it no longer held, not today
    circle.expire_consents(TODAY + timedelta(days=4))
    assert len(expiries(circle)) == 1
    assert circle.consents["c-1"].status_on(TODAY) is ConsentStatus.EXPIRED


def test_a_consent_without_expiry_or_revoked_never_expires() -> None:
    circle = circle_with("sp-1", "sp-2")
    circle.grant_consent("c-1", "sp-1", SCHEDULE, None, TODAY)
    circle.grant_consent("c-2", "sp-2", SCHEDULE, TODAY, TODAY)
    circle.revoke_consent("c-2", "sp-2")
    circle.expire_consents(TODAY + timedelta(days=365))
    assert expiries(circle) == []


def test_a_replaced_consent_does_not_expire_but_its_successor_does() -> None:
    circle = circle_with("sp-1")
    circle.grant_consent("c-1", "sp-1", SCHEDULE, TODAY, TODAY)
    circle.grant_consent("c-2", "sp-1", PROGRESS, TODAY + timedelta(days=7), TODAY)
    circle.expire_consents(TODAY + timedelta(days=8))
    assert [e.consent_id for e in expiries(circle)] == ["c-2"]


def test_an_expiry_survives_a_rebuild_from_the_events() -> None:
    circle = circle_with("sp-1")
    circle.grant_consent("c-1", "sp-1", SCHEDULE, TODAY, TODAY)
    circle.expire_consents(TODAY + timedelta(days=1))
    history = [SupportPersonLinked(site_id="site-a", patient_id=PATIENT,
                                   support_person_id="sp-1", relationship=Relationship.PARENT),
               *circle.pending]
    again = rebuilt(circle, history)
    assert again.version == 3
    assert again.consents["c-1"].expired
    again.expire_consents(TODAY + timedelta(days=30))
    assert again.pending == []
    assert again.shared_with("sp-1", TODAY) == set()  # recorded expired: no day revives it
