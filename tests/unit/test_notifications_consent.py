"""Nothing reaches a support person that the patient's live consent does not cover."""

from datetime import date

import pytest

from iopnet.catalog import ConsentScope
from services.notifications.domain import (
    NEEDED_SCOPE,
    Consent,
    MessageKind,
    may_share,
    sharing_with,
)

pytestmark = pytest.mark.unit

TODAY = date(2026, 12, 10)
SCHEDULE, PROGRESS = ConsentScope.SCHEDULE, ConsentScope.PROGRESS_SUMMARIES


def test_schedule_consent_allows_the_schedule_only() -> None:
    consents = [Consent("c1", "sp-1", SCHEDULE)]
    assert may_share(consents, "sp-1", SCHEDULE, TODAY)
    assert not may_share(consents, "sp-1", PROGRESS, TODAY)


def test_progress_consent_includes_the_schedule() -> None:
    consents = [Consent("c1", "sp-1", PROGRESS)]
    assert may_share(consents, "sp-1", PROGRESS, TODAY)
    assert may_share(consents, "sp-1", SCHEDULE, TODAY)


def test_a_revoked_consent_allows_nothing() -> None:
    assert not may_share([Consent("c1", "sp-1", PROGRESS, revoked=True)], "sp-1", SCHEDULE,
                         TODAY)


@pytest.mark.parametrize(("expires_on", "live"), [
    (date(2026, 12, 9), False), (date(2026, 12, 10), True), (date(2026, 12, 11), True),
    (None, True),
])
def test_consent_is_live_through_its_expiry_day(expires_on: date | None, live: bool) -> None:
    assert may_share([Consent("c1", "sp-1", SCHEDULE, expires_on)], "sp-1", SCHEDULE,
                     TODAY) is live


def test_one_persons_consent_does_not_cover_another() -> None:
    assert not may_share([Consent("c1", "sp-1", PROGRESS)], "sp-2", SCHEDULE, TODAY)


def test_revoking_one_consent_leaves_another_live_one_standing() -> None:
    consents = [Consent("c1", "sp-1", PROGRESS, revoked=True), Consent("c2", "sp-1", SCHEDULE)]
    assert may_share(consents, "sp-1", SCHEDULE, TODAY)
    assert not may_share(consents, "sp-1", PROGRESS, TODAY)


def test_sharing_with_lists_each_consenting_person_once() -> None:
    consents = [Consent("c1", "sp-2", PROGRESS), Consent("c2", "sp-1", SCHEDULE),
                Consent("c3", "sp-1", PROGRESS), Consent("c4", "sp-3", SCHEDULE, revoked=True)]
    assert sharing_with(consents, SCHEDULE, TODAY) == ["sp-1", "sp-2"]
    assert sharing_with(consents, PROGRESS, TODAY) == ["sp-1", "sp-2"]


def test_each_family_message_names_the_consent_it_needs() -> None:
    assert NEEDED_SCOPE == {MessageKind.FAMILY_SCHEDULE_UPDATE: SCHEDULE,
                            MessageKind.FAMILY_PROGRESS_UPDATE: PROGRESS}
