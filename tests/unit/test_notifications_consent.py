"""Nothing reaches a support person that the patient's live consent does not cover."""

from datetime import date

import pytest

from iopnet.catalog import SCOPE_COVERS as COVERS
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
PARTICIPATION = ConsentScope.FAMILY_PARTICIPATION


def test_schedule_consent_allows_the_schedule_only() -> None:
    consents = [Consent("c1", "sp-1", COVERS[SCHEDULE])]
    assert may_share(consents, "sp-1", SCHEDULE, TODAY)
    assert not may_share(consents, "sp-1", PROGRESS, TODAY)


def test_progress_consent_includes_the_schedule() -> None:
    consents = [Consent("c1", "sp-1", COVERS[PROGRESS])]
    assert may_share(consents, "sp-1", PROGRESS, TODAY)
    assert may_share(consents, "sp-1", SCHEDULE, TODAY)


def test_a_consent_allows_what_family_published_it_covers_and_nothing_else() -> None:
    """Taking part in family therapy covers progress and the schedule (family's ladder);
    notifications reads that from the event, whatever the scope's name suggests."""
    participation = [Consent("c1", "sp-1", COVERS[PARTICIPATION])]
    assert may_share(participation, "sp-1", PROGRESS, TODAY)
    assert may_share(participation, "sp-1", SCHEDULE, TODAY)
    narrow = [Consent("c1", "sp-1", frozenset({SCHEDULE}))]
    assert not may_share(narrow, "sp-1", PROGRESS, TODAY)


def test_a_revoked_consent_allows_nothing() -> None:
    assert not may_share([Consent("c1", "sp-1", COVERS[PROGRESS], revoked=True)], "sp-1",
                         SCHEDULE, TODAY)


@pytest.mark.parametrize(("expires_on", "live"), [
    (date(2026, 12, 9), False), (date(2026, 12, 10), True), (date(2026, 12, 11), True),
    (None, True),
])
def test_consent_is_live_through_its_expiry_day(expires_on: date | None, live: bool) -> None:
    assert may_share([Consent("c1", "sp-1", COVERS[SCHEDULE], expires_on)], "sp-1", SCHEDULE,
                     TODAY) is live


def test_one_persons_consent_does_not_cover_another() -> None:
    assert not may_share([Consent("c1", "sp-1", COVERS[PROGRESS])], "sp-2", SCHEDULE, TODAY)


def test_revoking_one_consent_leaves_another_live_one_standing() -> None:
    consents = [Consent("c1", "sp-1", COVERS[PROGRESS], revoked=True),
                Consent("c2", "sp-1", COVERS[SCHEDULE])]
    assert may_share(consents, "sp-1", SCHEDULE, TODAY)
    assert not may_share(consents, "sp-1", PROGRESS, TODAY)


def test_sharing_with_lists_each_consenting_person_once() -> None:
    consents = [Consent("c1", "sp-2", COVERS[PROGRESS]), Consent("c2", "sp-1", COVERS[SCHEDULE]),
                Consent("c3", "sp-1", COVERS[PROGRESS]),
                Consent("c4", "sp-3", COVERS[SCHEDULE], revoked=True),
                Consent("c5", "sp-4", COVERS[SCHEDULE], expires_on=date(2026, 12, 9)),
                Consent("c6", "sp-5", COVERS[SCHEDULE], expires_on=TODAY)]  # its last day
    assert sharing_with(consents, SCHEDULE, TODAY) == ["sp-1", "sp-2", "sp-5"]
    assert sharing_with(consents, PROGRESS, TODAY) == ["sp-1", "sp-2"]


def test_each_family_message_names_the_consent_it_needs() -> None:
    assert NEEDED_SCOPE == {MessageKind.FAMILY_SCHEDULE_UPDATE: SCHEDULE,
                            MessageKind.FAMILY_PROGRESS_UPDATE: PROGRESS}
