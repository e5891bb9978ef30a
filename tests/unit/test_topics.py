"""Topic names: a namespace first, read when a name is needed."""

from __future__ import annotations

import pytest

from iopnet.topics import NAMESPACE_ENV, TopicsOf

pytestmark = pytest.mark.unit


def test_a_projections_topics_are_named_in_the_namespace_in_force_when_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(NAMESPACE_ENV, "before")
    topics = TopicsOf("intake", "plans")
    monkeypatch.setenv(NAMESPACE_ENV, "after")
    assert list(topics) == ["after.intake.events", "after.plans.events"]
    assert topics[1] == "after.plans.events" and len(topics) == 2
