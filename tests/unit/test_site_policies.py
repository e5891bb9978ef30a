"""A site's weekly minimum is an IOP's: 9 hours at least, under 20 (42 CFR 410.44)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from iopnet.catalog import SitePolicies, SitePoliciesChanged, parse_event
from iopnet.envelope import EventEnvelope

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("hours", [9, 12.5, 19.99])
def test_a_minimum_from_9_to_under_20_is_a_sites_choice(hours: float) -> None:
    assert SitePolicies(attendance_min_weekly_hours=hours).attendance_min_weekly_hours == hours


@pytest.mark.parametrize("hours", [0, 8.99, 20, 40])
def test_a_minimum_outside_the_iop_range_is_refused_naming_the_field(hours: float) -> None:
    with pytest.raises(ValidationError) as refused:
        SitePolicies(attendance_min_weekly_hours=hours)
    assert refused.value.errors()[0]["loc"] == ("attendance_min_weekly_hours",)


def test_the_default_is_the_floor() -> None:
    assert SitePolicies().attendance_min_weekly_hours == 9


@pytest.mark.parametrize(("recorded", "read"), [(0, 9), (6, 9), (12, 12), (40, 19)])
def test_a_policy_recorded_at_version_1_reads_within_the_iop_range(recorded: float,
                                                                   read: float) -> None:
    envelope = EventEnvelope(
        source="/iopnet/intake", type=SitePoliciesChanged.event_type, subject="s-1",
        siteid="s-1", streamid="site-s-1", streamversion=2, correlationid="c",
        causationid="c", schemaversion=1,
        data={"site_id": "s-1", "policies": {"attendance_min_weekly_hours": recorded}})
    event = parse_event(envelope)
    assert isinstance(event, SitePoliciesChanged)
    assert event.policies.attendance_min_weekly_hours == read
