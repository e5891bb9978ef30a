"""In-program measures beyond the PHQ-9: the GAD-7 (Spitzer 2006) and the C-SSRS "since
last visit" (Posner 2011); a PHQ-9's item 9 makes a C-SSRS due that day."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from iopnet.catalog import (
    CssrsDue,
    Instrument,
    OutcomeMeasured,
    RiskLevel,
    RiskSignal,
    RiskSignalRaised,
)
from services.sessions.domain import Enrollment, EnrollmentTerms
from services.sessions.domain.instruments import CssrsSinceLastVisit, Gad7, gad7_band
from services.sessions.domain.outcomes import InvalidMeasure

pytestmark = pytest.mark.unit

START = date(2026, 12, 7)
NO = dict.fromkeys(("wish_to_be_dead", "suicidal_thoughts", "method", "intent", "plan",
                    "behavior"), False)


def enrolled() -> Enrollment:
    enrollment = Enrollment("p-1")
    enrollment.terms = EnrollmentTerms(
        patient_id="p-1", site_id="site-n", program_id="iop", clinician_id="clin-7",
        starts_on=START, days_per_week=3, planned_weeks=8, time_zone="America/Chicago",
        baseline_phq9=16)
    return enrollment


@pytest.mark.parametrize(("total", "band"), [(0, "minimal"), (4, "minimal"), (5, "mild"),
                                             (9, "mild"), (10, "moderate"), (14, "moderate"),
                                             (15, "severe"), (21, "severe")])
def test_gad7_bands_at_their_boundaries(total: int, band: str) -> None:
    assert gad7_band(total) == band


def test_gad7_has_seven_items_of_0_to_3() -> None:
    assert Gad7((3,) * 7).total == 21
    with pytest.raises(InvalidMeasure) as short:
        Gad7((1,) * 6)
    assert short.value.field == "items"
    with pytest.raises(InvalidMeasure) as high:
        Gad7((1, 1, 4, 1, 1, 1, 1))
    assert high.value.field == "items/2"


@pytest.mark.parametrize(("yes", "level", "signals"), [
    ((), RiskLevel.NONE, []),
    (("wish_to_be_dead",), RiskLevel.LOW, []),
    (("suicidal_thoughts",), RiskLevel.LOW, []),
    (("suicidal_thoughts", "method"), RiskLevel.MODERATE, [RiskSignal.CSSRS_MODERATE]),
    (("intent",), RiskLevel.HIGH, [RiskSignal.CSSRS_HIGH]),
    (("plan",), RiskLevel.HIGH, [RiskSignal.CSSRS_HIGH]),
    (("behavior",), RiskLevel.HIGH, [RiskSignal.CSSRS_HIGH]),
])
def test_cssrs_since_last_visit_triages_as_at_intake(yes: tuple[str, ...], level: RiskLevel,
                                                     signals: list[RiskSignal]) -> None:
    screen = CssrsSinceLastVisit({**NO, **dict.fromkeys(yes, True)})
    assert (screen.risk_level, screen.risk_signals, screen.yes_answers) == (
        level, signals, len(yes))


def test_cssrs_answers_are_each_required_yes_or_no() -> None:
    with pytest.raises(InvalidMeasure) as missing:
        CssrsSinceLastVisit({k: v for k, v in NO.items() if k != "intent"})
    assert missing.value.field == "answers/intent"


def test_a_phq9_item9_above_0_makes_a_cssrs_due_that_day_until_one_is_done() -> None:
    enrollment = enrolled()
    day = START + timedelta(days=7)
    enrollment.measure_phq9("m-1", [1, 1, 1, 1, 1, 1, 1, 1, 1], day)
    due = [e for e in enrollment.pending if isinstance(e, CssrsDue)]
    assert [(d.due_on, d.phq9_measure_id) for d in due] == [(day, "m-1")]
    assert [d.due_on for d in enrollment.open_cssrs_tasks()] == [day]
    enrollment.measure_phq9("m-2", [1, 1, 1, 1, 1, 1, 1, 1, 1], day)  # the same day again
    assert len([e for e in enrollment.pending if isinstance(e, CssrsDue)]) == 1
    enrollment.measure_cssrs("c-1", NO, day)
    assert enrollment.open_cssrs_tasks() == []
    enrollment.measure_phq9("m-3", [1, 1, 1, 1, 1, 1, 1, 1, 0], day + timedelta(days=7))
    assert enrollment.open_cssrs_tasks() == []  # item 9 at 0: nothing due


def test_a_high_cssrs_in_the_program_raises_the_same_signal_as_at_intake() -> None:
    enrollment = enrolled()
    day = START + timedelta(days=8)
    signals = enrollment.measure_cssrs("c-1", {**NO, "plan": True}, day)
    measured, raised = enrollment.pending
    assert isinstance(measured, OutcomeMeasured) and isinstance(raised, RiskSignalRaised)
    assert (measured.instrument, measured.total, measured.risk_level) == (
        Instrument.CSSRS, 1, RiskLevel.HIGH)
    assert (raised.signal, raised.observed_on, signals) == (
        RiskSignal.CSSRS_HIGH, day, [RiskSignal.CSSRS_HIGH])
    rebuilt = Enrollment.rebuild("p-1", [*enrollment.pending])
    assert rebuilt.measures[-1].risk_level is RiskLevel.HIGH


def test_a_gad7_raises_nothing_and_is_no_phq9_to_rise_from() -> None:
    enrollment = enrolled()
    enrollment.measure_gad7("g-1", [0, 0, 0, 0, 0, 0, 0], START)
    [measured] = enrollment.pending
    assert isinstance(measured, OutcomeMeasured)
    assert (measured.instrument, measured.total, measured.item9) == (Instrument.GAD7, 0, None)
    signals = enrollment.measure_phq9("m-1", [2, 2, 2, 2, 2, 2, 2, 0, 0], START)  # 14
    assert signals == []  # not a rise over the GAD-7's 0; baseline is 16
