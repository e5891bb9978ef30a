"""Weekly PHQ-9 in the program: scoring, validation, and the risk signals it raises."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from iopnet.catalog import OutcomeMeasured, RiskSignal, RiskSignalRaised
from services.sessions.domain import Enrollment, EnrollmentTerms, InvalidMeasure, phq9_band
from services.sessions.domain.outcomes import Phq9, program_week

pytestmark = pytest.mark.unit

START = date(2026, 12, 7)


def enrollment(baseline: int | None = 16) -> Enrollment:
    enrolled = Enrollment("p-1")
    enrolled.terms = EnrollmentTerms(
        patient_id="p-1", site_id="site-n", program_id="iop", clinician_id="clin-7",
        starts_on=START, days_per_week=4, planned_weeks=10, time_zone="America/Chicago",
        baseline_phq9=baseline)
    return enrolled


def items(total: int, item9: int = 0) -> list[int]:
    """Nine answers adding up to ``total`` with item 9 as given."""
    rest = total - item9
    answers = [min(3, max(0, rest - 3 * n)) for n in range(8)]
    assert sum(answers) == rest
    return [*answers, item9]


@pytest.mark.parametrize(("total", "band"), [
    (0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"),
    (14, "moderate"), (15, "moderately_severe"), (19, "moderately_severe"), (20, "severe"),
    (27, "severe"),
])
def test_phq9_bands_at_their_boundaries(total: int, band: str) -> None:
    assert phq9_band(total) == band


@pytest.mark.parametrize(("answers", "field"), [
    ([1] * 8, "items"), ([1] * 10, "items"), ([1, 1, 1, 4, 1, 1, 1, 1, 1], "items/3"),
    ([1, 1, 1, 1, 1, 1, 1, 1, -1], "items/8"), ([True] + [1] * 8, "items/0"),
])
def test_invalid_answers_name_the_item(answers: list[int], field: str) -> None:
    with pytest.raises(InvalidMeasure) as wrong:
        Phq9(tuple(answers))
    assert wrong.value.field == field


def test_program_week_counts_from_the_start() -> None:
    assert program_week(START, START) == 1
    assert program_week(START, START + timedelta(days=6)) == 1
    assert program_week(START, START + timedelta(days=7)) == 2
    with pytest.raises(InvalidMeasure) as early:
        program_week(START, START - timedelta(days=1))
    assert early.value.field == "measured_on"


def test_a_measure_without_risk_records_only_the_outcome() -> None:
    patient = enrollment()
    assert patient.measure_phq9("m-1", items(14), START + timedelta(days=8)) == []
    (measured,) = patient.pending
    assert isinstance(measured, OutcomeMeasured)
    assert (measured.total, measured.item9, measured.program_week) == (14, 0, 2)


def test_item9_above_zero_raises_a_risk_signal_whatever_the_total() -> None:
    patient = enrollment()
    signals = patient.measure_phq9("m-1", items(1, item9=1), START)
    assert signals == [RiskSignal.PHQ9_ITEM9]
    raised = patient.pending[1]
    assert isinstance(raised, RiskSignalRaised)
    assert (raised.signal, raised.clinician_id, raised.observed_on) == (
        RiskSignal.PHQ9_ITEM9, "clin-7", START)


@pytest.mark.parametrize(("total", "rise"), [(20, False), (21, True)])
def test_a_rise_of_five_over_the_baseline_is_marked(total: int, rise: bool) -> None:
    signals = enrollment(baseline=16).measure_phq9("m-1", items(total), START)
    assert (RiskSignal.PHQ9_MARKED_RISE in signals) is rise


def test_a_rise_of_five_over_the_previous_measure_is_marked() -> None:
    patient = enrollment(baseline=16)
    patient.measure_phq9("m-1", items(6), START + timedelta(days=7))
    assert patient.measure_phq9("m-2", items(10), START + timedelta(days=14)) == []
    assert patient.measure_phq9("m-3", items(15), START + timedelta(days=21)) == [
        RiskSignal.PHQ9_MARKED_RISE]
    assert patient.measure_signals == {"m-3": [RiskSignal.PHQ9_MARKED_RISE]}


def test_both_signals_at_once() -> None:
    signals = enrollment(baseline=10).measure_phq9("m-1", items(18, item9=2), START)
    assert signals == [RiskSignal.PHQ9_ITEM9, RiskSignal.PHQ9_MARKED_RISE]
