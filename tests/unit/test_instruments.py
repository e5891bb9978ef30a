from __future__ import annotations

from typing import Any

import pytest

from services.intake.domain.instruments import (
    PHQ9_TOTAL_LOINC,
    AuditcBand,
    CssrsAnswers,
    CssrsRisk,
    Flag,
    Gad7Band,
    Instrument,
    InvalidResponses,
    Phq9Band,
    SexAtBirth,
    gad7_band,
    phq9_band,
    remission,
    response,
    score_auditc,
    score_cssrs,
    score_gad7,
    score_phq9,
)

pytestmark = pytest.mark.unit


def items_totalling(total: int, count: int, highest: int = 3) -> list[int]:
    """``count`` item scores adding up to ``total``, filled from the first item."""
    items = []
    for _ in range(count):
        value = min(highest, total)
        items.append(value)
        total -= value
    assert total == 0
    return items


def phq9_items(total: int, item9: int = 0) -> list[int]:
    return [*items_totalling(total - item9, 8), item9]


# --- PHQ-9 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, Phq9Band.MINIMAL),
        (4, Phq9Band.MINIMAL),
        (5, Phq9Band.MILD),
        (9, Phq9Band.MILD),
        (10, Phq9Band.MODERATE),
        (14, Phq9Band.MODERATE),
        (15, Phq9Band.MODERATELY_SEVERE),
        (19, Phq9Band.MODERATELY_SEVERE),
        (20, Phq9Band.SEVERE),
        (27, Phq9Band.SEVERE),
    ],
)
def test_phq9_bands_at_their_boundaries(total: int, band: Phq9Band) -> None:
    result = score_phq9(phq9_items(total, item9=min(total, 3)))
    assert (result.instrument, result.total, result.band) == (Instrument.PHQ9, total, band)
    assert phq9_band(total) is band


@pytest.mark.parametrize(("item9", "signal"), [(0, False), (1, True), (2, True), (3, True)])
def test_phq9_item9_above_zero_is_a_risk_signal_whatever_the_total(
    item9: int, signal: bool
) -> None:
    result = score_phq9([0] * 8 + [item9])
    assert result.item9 == item9
    assert result.risk_signal is signal
    assert result.has(Flag.RISK_SIGNAL) is signal
    assert result.band is Phq9Band.MINIMAL


@pytest.mark.parametrize(("total", "positive"), [(9, False), (10, True)])
def test_phq9_positive_screen_from_10(total: int, positive: bool) -> None:
    assert score_phq9(phq9_items(total)).has(Flag.POSITIVE_SCREEN) is positive


def test_phq9_total_loinc() -> None:
    assert PHQ9_TOTAL_LOINC == "44261-6"


@pytest.mark.parametrize(
    ("baseline", "current", "responded"),
    [
        (20, 10, True),   # exactly 50%
        (20, 11, False),
        (21, 10, True),   # 52%
        (21, 11, False),  # 47.6%
        (15, 7, True),
        (15, 8, False),
        (10, 0, True),
        (1, 0, True),     # the smallest baseline there is to respond from
        (0, 0, False),    # nothing to respond from
    ],
)
def test_response_is_a_drop_of_at_least_half_the_baseline(
    baseline: int, current: int, responded: bool
) -> None:
    assert response(baseline, current) is responded


@pytest.mark.parametrize(("total", "remitted"), [(0, True), (4, True), (5, False), (27, False)])
def test_remission_is_below_5(total: int, remitted: bool) -> None:
    assert remission(total) is remitted


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([0] * 8, "items"),
        ([0] * 10, "items"),
        ([], "items"),
        ("000000000", "items"),
        (None, "items"),
        ([0, 0, 0, 4, 0, 0, 0, 0, 0], "items[3]"),
        ([0, 0, 0, 0, 0, 0, 0, 0, -1], "items[8]"),
        ([0, 0, "1", 0, 0, 0, 0, 0, 0], "items[2]"),
        ([0, 1.0, 0, 0, 0, 0, 0, 0, 0], "items[1]"),
        ([True, 0, 0, 0, 0, 0, 0, 0, 0], "items[0]"),
        ([0, 0, 0, 0, 0, None, 0, 0, 0], "items[5]"),
    ],
)
def test_phq9_rejects_invalid_responses(items: Any, field: str) -> None:
    with pytest.raises(InvalidResponses) as raised:
        score_phq9(items)
    assert raised.value.field == field
    assert isinstance(raised.value, ValueError)
    assert raised.value.message


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: response(28, 0), "baseline"),
        (lambda: response(10, -1), "current"),
        (lambda: remission(28), "total"),
        (lambda: phq9_band(-1), "total"),
        (lambda: gad7_band(22), "total"),  # 7 items of 0-3: 21 at most
    ],
)
def test_phq9_helpers_reject_impossible_totals(call: Any, field: str) -> None:
    with pytest.raises(InvalidResponses) as raised:
        call()
    assert raised.value.field == field


# --- GAD-7 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "band", "positive"),
    [
        (0, Gad7Band.MINIMAL, False),
        (4, Gad7Band.MINIMAL, False),
        (5, Gad7Band.MILD, False),
        (9, Gad7Band.MILD, False),
        (10, Gad7Band.MODERATE, True),
        (14, Gad7Band.MODERATE, True),
        (15, Gad7Band.SEVERE, True),
        (21, Gad7Band.SEVERE, True),
    ],
)
def test_gad7_bands_at_their_boundaries(total: int, band: Gad7Band, positive: bool) -> None:
    result = score_gad7(items_totalling(total, 7))
    assert (result.instrument, result.total, result.band) == (Instrument.GAD7, total, band)
    assert result.has(Flag.POSITIVE_SCREEN) is positive
    assert gad7_band(total) is band


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([0] * 6, "items"),
        ([0] * 9, "items"),
        ([0, 0, 0, 0, 0, 0, 4], "items[6]"),
        ([0, "a", 0, 0, 0, 0, 0], "items[1]"),
    ],
)
def test_gad7_rejects_invalid_responses(items: Any, field: str) -> None:
    with pytest.raises(InvalidResponses) as raised:
        score_gad7(items)
    assert raised.value.field == field


# --- C-SSRS ----------------------------------------------------------------------------

NO = {
    "wish_to_be_dead": False,
    "suicidal_thoughts": False,
    "method": False,
    "intent": False,
    "plan": False,
    "behavior": False,
}


@pytest.mark.parametrize(
    ("yes", "risk"),
    [
        ({}, CssrsRisk.NONE),
        ({"wish_to_be_dead": True}, CssrsRisk.LOW),
        ({"suicidal_thoughts": True}, CssrsRisk.LOW),
        ({"wish_to_be_dead": True, "suicidal_thoughts": True}, CssrsRisk.LOW),
        ({"suicidal_thoughts": True, "method": True}, CssrsRisk.MODERATE),
        ({"behavior": True, "behavior_within_3_months": False}, CssrsRisk.MODERATE),
        ({"suicidal_thoughts": True, "intent": True}, CssrsRisk.HIGH),
        ({"suicidal_thoughts": True, "plan": True}, CssrsRisk.HIGH),
        ({"behavior": True, "behavior_within_3_months": True}, CssrsRisk.HIGH),
        ({"method": True, "intent": True, "plan": True}, CssrsRisk.HIGH),
    ],
)
def test_cssrs_triage(yes: dict[str, bool], risk: CssrsRisk) -> None:
    result = score_cssrs({**NO, **yes})
    assert result.instrument is Instrument.CSSRS
    assert result.risk is risk
    assert result.band is risk


@pytest.mark.parametrize(
    ("risk_yes", "flags"),
    [
        ({}, set()),
        ({"wish_to_be_dead": True}, {Flag.POSITIVE_SCREEN}),
        ({"method": True}, {Flag.POSITIVE_SCREEN, Flag.RISK_SIGNAL}),
        ({"plan": True}, {Flag.POSITIVE_SCREEN, Flag.RISK_SIGNAL, Flag.REFER_HIGHER_LEVEL}),
    ],
)
def test_cssrs_flags_by_risk(risk_yes: dict[str, bool], flags: set[Flag]) -> None:
    assert score_cssrs({**NO, **risk_yes}).flags == flags


def test_cssrs_total_counts_yes_answers_and_accepts_the_dataclass() -> None:
    answers = CssrsAnswers(True, True, True, False, False, True, False)
    result = score_cssrs(answers)
    assert (result.total, result.risk, result.answers) == (4, CssrsRisk.MODERATE, answers)


def test_cssrs_accepts_no_for_recent_behavior_when_behavior_is_no() -> None:
    assert score_cssrs({**NO, "behavior_within_3_months": False}).risk is CssrsRisk.NONE


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({k: v for k, v in NO.items() if k != "intent"}, "intent"),
        ({**NO, "plan": "yes"}, "plan"),
        ({**NO, "method": 1}, "method"),
        ({**NO, "behavior": True}, "behavior_within_3_months"),
        ({**NO, "behavior_within_3_months": True}, "behavior_within_3_months"),
        ({**NO, "behavior": True, "behavior_within_3_months": "no"}, "behavior_within_3_months"),
        ({**NO, "ideation_intensity": True}, "ideation_intensity"),
        ([False] * 6, "answers"),
    ],
)
def test_cssrs_rejects_invalid_answers(answers: Any, field: str) -> None:
    with pytest.raises(InvalidResponses) as raised:
        score_cssrs(answers)
    assert raised.value.field == field


# --- AUDIT-C ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sex", "total", "positive"),
    [
        (SexAtBirth.MALE, 2, False),
        (SexAtBirth.MALE, 3, False),
        (SexAtBirth.MALE, 4, True),
        (SexAtBirth.FEMALE, 2, False),
        (SexAtBirth.FEMALE, 3, True),
        (SexAtBirth.FEMALE, 4, True),
        # Other or unknown sex at birth: the more sensitive cut-off, 3.
        (SexAtBirth.OTHER, 2, False),
        (SexAtBirth.OTHER, 3, True),
        (SexAtBirth.UNKNOWN, 2, False),
        (SexAtBirth.UNKNOWN, 3, True),
    ],
)
def test_auditc_cut_offs_by_sex(sex: SexAtBirth, total: int, positive: bool) -> None:
    result = score_auditc(items_totalling(total, 3, highest=4), sex)
    assert (result.instrument, result.total) == (Instrument.AUDITC, total)
    assert result.positive is positive
    assert result.band is (AuditcBand.POSITIVE if positive else AuditcBand.NEGATIVE)
    assert result.has(Flag.POSITIVE_SCREEN) is positive


def test_auditc_full_range_and_sex_as_text() -> None:
    result = score_auditc([4, 4, 4], "female")
    assert (result.total, result.sex, result.cut_off) == (12, SexAtBirth.FEMALE, 3)
    assert score_auditc([0, 0, 0], "male").total == 0


@pytest.mark.parametrize(
    ("items", "sex", "field"),
    [
        ([0, 0], SexAtBirth.MALE, "items"),
        ([0, 0, 0, 0], SexAtBirth.MALE, "items"),
        ([0, 5, 0], SexAtBirth.MALE, "items[1]"),
        ([0, 0, -1], SexAtBirth.FEMALE, "items[2]"),
        ([0, 0, 0], "m", "sex_at_birth"),
        ([0, 0, 0], None, "sex_at_birth"),
    ],
)
def test_auditc_rejects_invalid_responses(items: Any, sex: Any, field: str) -> None:
    with pytest.raises(InvalidResponses) as raised:
        score_auditc(items, sex)
    assert raised.value.field == field


def test_instrument_codes() -> None:
    assert [str(i) for i in Instrument] == ["phq9", "gad7", "cssrs", "auditc"]
