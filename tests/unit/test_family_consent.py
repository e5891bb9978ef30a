"""What a support person may be told, decided by the patient's live consent alone."""

from datetime import date, timedelta

import pytest

from iopnet.catalog import ConsentScope
from services.family.domain import Consent, ConsentStatus, what_may_be_shared

pytestmark = pytest.mark.unit

TODAY = date(2026, 12, 10)
SCHEDULE = ConsentScope.SCHEDULE
PROGRESS = ConsentScope.PROGRESS_SUMMARIES


def consent(scope: ConsentScope = SCHEDULE, expires_on: date | None = None,
            revoked: bool = False, consent_id: str = "c-1") -> Consent:
    return Consent(consent_id, "sp-1", scope, expires_on, revoked)


def test_no_consent_shares_nothing() -> None:
    assert what_may_be_shared([], TODAY) == set()


def test_schedule_consent_shares_the_schedule_only() -> None:
    assert what_may_be_shared([consent(SCHEDULE)], TODAY) == {SCHEDULE}


def test_progress_summaries_imply_the_schedule() -> None:
    assert what_may_be_shared([consent(PROGRESS)], TODAY) == {PROGRESS, SCHEDULE}


def test_live_consents_add_up() -> None:
    both = [consent(PROGRESS, consent_id="c-1"), consent(SCHEDULE, consent_id="c-2")]
    assert what_may_be_shared(both, TODAY) == {PROGRESS, SCHEDULE}


def test_a_consent_without_expiry_holds_until_revoked() -> None:
    assert what_may_be_shared([consent(PROGRESS)], TODAY + timedelta(days=3650)) == {
        PROGRESS, SCHEDULE}


def test_a_consent_expiring_today_still_holds_today() -> None:
    assert what_may_be_shared([consent(SCHEDULE, expires_on=TODAY)], TODAY) == {SCHEDULE}
    assert consent(expires_on=TODAY).status_on(TODAY) is ConsentStatus.LIVE


def test_a_consent_that_expired_yesterday_shares_nothing() -> None:
    expired = consent(PROGRESS, expires_on=TODAY - timedelta(days=1))
    assert what_may_be_shared([expired], TODAY) == set()
    assert expired.status_on(TODAY) is ConsentStatus.EXPIRED


def test_a_revoked_consent_shares_nothing_even_before_its_expiry() -> None:
    revoked = consent(PROGRESS, expires_on=TODAY + timedelta(days=30), revoked=True)
    assert what_may_be_shared([revoked], TODAY) == set()
    assert revoked.status_on(TODAY) is ConsentStatus.REVOKED


def test_a_revoked_consent_that_also_expired_reads_as_revoked() -> None:
    both = consent(expires_on=TODAY - timedelta(days=1), revoked=True)
    assert both.status_on(TODAY) is ConsentStatus.REVOKED


def test_only_the_live_consents_count() -> None:
    consents = [
        consent(PROGRESS, revoked=True, consent_id="c-1"),
        consent(SCHEDULE, expires_on=TODAY, consent_id="c-2"),
    ]
    assert what_may_be_shared(consents, TODAY) == {SCHEDULE}
    assert what_may_be_shared(consents, TODAY + timedelta(days=1)) == set()


def test_a_consent_recorded_expired_stays_expired_and_is_due_no_more() -> None:
    last_day = consent(expires_on=TODAY)
    assert last_day.expiry_due(TODAY) is None
    assert last_day.expiry_due(TODAY + timedelta(days=2)) == TODAY + timedelta(days=1)
    recorded = Consent("c-1", "sp-1", SCHEDULE, TODAY, expired=True)
    assert recorded.status_on(TODAY) is ConsentStatus.EXPIRED
    assert recorded.expiry_due(TODAY + timedelta(days=2)) is None
    assert consent(expires_on=TODAY, revoked=True).expiry_due(TODAY + timedelta(days=2)) is None
