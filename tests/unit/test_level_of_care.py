from __future__ import annotations

from typing import Any

import pytest

from iopnet.catalog import ReferralSource
from services.intake.domain.instruments import (
    CssrsResult,
    CssrsRisk,
    SexAtBirth,
    score_auditc,
    score_cssrs,
    score_gad7,
    score_phq9,
)
from services.intake.domain.level_of_care import (
    Assessment,
    CoOccurring,
    InvalidOverride,
    LevelOfCare,
    ReasonCode,
    Recommendation,
    accept,
    override,
    recommend,
)

pytestmark = pytest.mark.unit

NO = {
    "wish_to_be_dead": False,
    "suicidal_thoughts": False,
    "method": False,
    "intent": False,
    "plan": False,
    "behavior": False,
}
CSSRS_ANSWERS = {
    CssrsRisk.NONE: {},
    CssrsRisk.LOW: {"suicidal_thoughts": True},
    CssrsRisk.MODERATE: {"suicidal_thoughts": True, "method": True},
    CssrsRisk.HIGH: {"suicidal_thoughts": True, "plan": True},
}


def cssrs(risk: CssrsRisk) -> CssrsResult:
    result = score_cssrs({**NO, **CSSRS_ANSWERS[risk]})
    assert result.risk is risk
    return result


def assess(
    phq9: int,
    *,
    item9: int = 0,
    risk: CssrsRisk = CssrsRisk.NONE,
    source: ReferralSource = ReferralSource.PROVIDER,
    gad7: int | None = None,
    auditc: int | None = None,
    sex: SexAtBirth = SexAtBirth.FEMALE,
) -> Assessment:
    rest = phq9 - item9
    phq9_items = [min(3, max(0, rest - 3 * i)) for i in range(8)] + [item9]
    assert sum(phq9_items) == phq9, "with item 9 at 0 the highest total is 24"
    return Assessment(
        phq9=score_phq9(phq9_items),
        cssrs=cssrs(risk),
        referral_source=source,
        gad7=None if gad7 is None else score_gad7([min(3, max(0, gad7 - 3 * i)) for i in range(7)]),
        auditc=None if auditc is None else score_auditc(
            [min(4, max(0, auditc - 4 * i)) for i in range(3)], sex
        ),
    )


@pytest.mark.parametrize(
    ("phq9", "level", "code"),
    [
        (0, LevelOfCare.STANDARD_OUTPATIENT, ReasonCode.MILD_DEPRESSION),
        (9, LevelOfCare.STANDARD_OUTPATIENT, ReasonCode.MILD_DEPRESSION),
        (10, LevelOfCare.STANDARD_OUTPATIENT, ReasonCode.MODERATE_DEPRESSION),
        (14, LevelOfCare.STANDARD_OUTPATIENT, ReasonCode.MODERATE_DEPRESSION),
        (15, LevelOfCare.IOP, ReasonCode.SEVERE_DEPRESSION),
        (19, LevelOfCare.IOP, ReasonCode.SEVERE_DEPRESSION),
        (20, LevelOfCare.IOP, ReasonCode.SEVERE_DEPRESSION),
        (24, LevelOfCare.IOP, ReasonCode.SEVERE_DEPRESSION),
    ],
)
def test_depression_severity_alone(phq9: int, level: LevelOfCare, code: ReasonCode) -> None:
    recommendation = recommend(assess(phq9))
    assert recommendation.level is level
    assert recommendation.reason_codes == (code,)
    assert recommendation.urgent_alert is False
    assert recommendation.co_occurring == ()


@pytest.mark.parametrize("risk", [CssrsRisk.NONE, CssrsRisk.LOW, CssrsRisk.MODERATE])
@pytest.mark.parametrize("phq9", [0, 9, 14, 24])
def test_high_risk_is_inpatient_now_whatever_else(phq9: int, risk: CssrsRisk) -> None:
    assert recommend(assess(phq9, risk=risk)).level is not LevelOfCare.INPATIENT
    for source in ReferralSource:
        recommendation = recommend(assess(phq9, risk=CssrsRisk.HIGH, source=source, gad7=15))
        assert recommendation.level is LevelOfCare.INPATIENT
        assert recommendation.reasons[0].code is ReasonCode.HIGH_SUICIDE_RISK
        assert recommendation.urgent_alert is True


@pytest.mark.parametrize("phq9", [0, 4, 9, 14])
def test_inpatient_step_down_is_iop_even_when_mild(phq9: int) -> None:
    recommendation = recommend(assess(phq9, source=ReferralSource.INPATIENT_STEP_DOWN))
    assert recommendation.level is LevelOfCare.IOP
    assert recommendation.reasons[0].code is ReasonCode.INPATIENT_STEP_DOWN


@pytest.mark.parametrize("source", [ReferralSource.SELF, ReferralSource.PROVIDER])
def test_mild_without_step_down_is_standard_outpatient_even_with_co_occurring(
    source: ReferralSource,
) -> None:
    recommendation = recommend(assess(9, source=source, gad7=21, auditc=12))
    assert recommendation.level is LevelOfCare.STANDARD_OUTPATIENT
    assert recommendation.reasons[0].code is ReasonCode.MILD_DEPRESSION
    assert recommendation.co_occurring == (CoOccurring.ANXIETY, CoOccurring.ALCOHOL_USE)


@pytest.mark.parametrize(
    ("findings", "level", "co_occurring"),
    [
        ({"gad7": 9}, LevelOfCare.STANDARD_OUTPATIENT, ()),
        ({"gad7": 10}, LevelOfCare.IOP, (CoOccurring.ANXIETY,)),
        ({"auditc": 2}, LevelOfCare.STANDARD_OUTPATIENT, ()),
        ({"auditc": 3}, LevelOfCare.IOP, (CoOccurring.ALCOHOL_USE,)),
        ({"auditc": 3, "sex": SexAtBirth.MALE}, LevelOfCare.STANDARD_OUTPATIENT, ()),
        ({"auditc": 4, "sex": SexAtBirth.MALE}, LevelOfCare.IOP, (CoOccurring.ALCOHOL_USE,)),
        ({"risk": CssrsRisk.LOW}, LevelOfCare.STANDARD_OUTPATIENT, ()),
        ({"risk": CssrsRisk.MODERATE}, LevelOfCare.IOP, ()),
        (
            {"gad7": 12, "auditc": 5},
            LevelOfCare.IOP,
            (CoOccurring.ANXIETY, CoOccurring.ALCOHOL_USE),
        ),
    ],
)
@pytest.mark.parametrize("phq9", [10, 14])
def test_moderate_depression_is_iop_only_with_something_more(
    phq9: int, findings: dict[str, Any], level: LevelOfCare, co_occurring: tuple[CoOccurring]
) -> None:
    recommendation = recommend(assess(phq9, **findings))
    assert recommendation.level is level
    assert recommendation.co_occurring == co_occurring
    expected = (
        ReasonCode.MODERATE_DEPRESSION_WITH_COMPLICATIONS
        if level is LevelOfCare.IOP
        else ReasonCode.MODERATE_DEPRESSION
    )
    assert recommendation.reasons[0].code is expected


def test_a_gad7_or_auditc_below_its_cut_off_adds_no_reason() -> None:
    recommendation = recommend(assess(12, gad7=9, auditc=2))
    assert recommendation.reason_codes == (ReasonCode.MODERATE_DEPRESSION,)


def test_contributing_reasons_follow_the_deciding_one() -> None:
    recommendation = recommend(assess(12, item9=1, risk=CssrsRisk.MODERATE, gad7=11, auditc=6))
    assert recommendation.reason_codes == (
        ReasonCode.MODERATE_DEPRESSION_WITH_COMPLICATIONS,
        ReasonCode.SELF_HARM_THOUGHTS,
        ReasonCode.MODERATE_SUICIDE_RISK,
        ReasonCode.CO_OCCURRING_ANXIETY,
        ReasonCode.CO_OCCURRING_ALCOHOL_USE,
    )
    assert all(reason.text for reason in recommendation.reasons)


@pytest.mark.parametrize(
    ("item9", "risk", "urgent"),
    [
        (0, CssrsRisk.NONE, False),
        (0, CssrsRisk.LOW, False),
        (1, CssrsRisk.NONE, True),
        (3, CssrsRisk.LOW, True),
        (0, CssrsRisk.MODERATE, True),
        (0, CssrsRisk.HIGH, True),
    ],
)
@pytest.mark.parametrize("phq9", [4, 16])
def test_urgent_alert_on_item9_or_moderate_or_high_risk(
    phq9: int, item9: int, risk: CssrsRisk, urgent: bool
) -> None:
    recommendation = recommend(assess(phq9, item9=item9, risk=risk))
    assert recommendation.urgent_alert is urgent
    assert (ReasonCode.SELF_HARM_THOUGHTS in recommendation.reason_codes) is (item9 > 0)


@pytest.mark.parametrize(("phq9", "item9", "risk", "level"), [
    (0, 0, CssrsRisk.NONE, LevelOfCare.STANDARD_OUTPATIENT),
    (14, 0, CssrsRisk.LOW, LevelOfCare.STANDARD_OUTPATIENT),
    (1, 1, CssrsRisk.NONE, LevelOfCare.IOP),
    (14, 1, CssrsRisk.NONE, LevelOfCare.IOP),
    (6, 0, CssrsRisk.MODERATE, LevelOfCare.IOP),
    (9, 0, CssrsRisk.MODERATE, LevelOfCare.IOP),
])
def test_risk_of_harm_alone_raises_the_level_to_iop(phq9: int, item9: int, risk: CssrsRisk,
                                                    level: LevelOfCare) -> None:
    recommendation = recommend(assess(phq9, item9=item9, risk=risk))
    assert recommendation.level is level
    if phq9 < 10:
        assert (recommendation.reason_codes[0] is ReasonCode.RISK_OF_HARM) is (
            level is LevelOfCare.IOP)


@pytest.mark.parametrize(("item9", "risk", "required"), [
    (0, CssrsRisk.NONE, False), (1, CssrsRisk.NONE, True), (0, CssrsRisk.LOW, True),
    (0, CssrsRisk.MODERATE, True), (0, CssrsRisk.HIGH, True),
])
def test_a_safety_plan_is_required_for_any_risk_finding(item9: int, risk: CssrsRisk,
                                                        required: bool) -> None:
    assert recommend(assess(16, item9=item9, risk=risk)).safety_plan_required is required


# --- The clinician's decision ----------------------------------------------------------


def recommendation_for_iop() -> Recommendation:
    return recommend(assess(18))


def test_accepting_keeps_the_recommended_level() -> None:
    decision = accept(recommendation_for_iop(), "c-7")
    assert (decision.recommended, decision.decided) == (LevelOfCare.IOP, LevelOfCare.IOP)
    assert decision.overridden is False
    assert decision.override_reason is None
    assert decision.clinician_id == "c-7"


@pytest.mark.parametrize(
    "level",
    [
        LevelOfCare.INPATIENT,
        LevelOfCare.PARTIAL_HOSPITALIZATION,
        LevelOfCare.STANDARD_OUTPATIENT,
    ],
)
def test_override_records_both_levels_and_the_reason(level: LevelOfCare) -> None:
    decision = override(recommendation_for_iop(), level, "  works nights; cannot attend  ", "c-7")
    assert decision.recommended is LevelOfCare.IOP
    assert decision.decided is level
    assert decision.overridden is True
    assert decision.override_reason == "works nights; cannot attend"
    assert decision.recommendation == recommendation_for_iop()


def test_high_risk_can_be_overridden_to_partial_hospitalization() -> None:
    high = recommend(assess(22, risk=CssrsRisk.HIGH))
    decision = override(
        high, LevelOfCare.PARTIAL_HOSPITALIZATION, "safety plan and family support", "c-1"
    )
    assert (decision.recommended, decision.decided) == (
        LevelOfCare.INPATIENT,
        LevelOfCare.PARTIAL_HOSPITALIZATION,
    )


def test_override_level_may_come_as_text() -> None:
    decision = override(recommendation_for_iop(), "inpatient", "escalating", "c-7")  # type: ignore[arg-type]
    assert decision.decided is LevelOfCare.INPATIENT


@pytest.mark.parametrize(
    ("level", "reason", "clinician_id", "field"),
    [
        (LevelOfCare.INPATIENT, "", "c-7", "reason"),
        (LevelOfCare.INPATIENT, "   ", "c-7", "reason"),
        (LevelOfCare.INPATIENT, None, "c-7", "reason"),
        (LevelOfCare.IOP, "same as the rules", "c-7", "level"),
        ("crisis", "why", "c-7", "level"),
        (LevelOfCare.INPATIENT, "why", "", "clinician_id"),
    ],
)
def test_override_rejects_a_missing_reason_or_a_non_override(
    level: Any, reason: Any, clinician_id: str, field: str
) -> None:
    with pytest.raises(InvalidOverride) as raised:
        override(recommendation_for_iop(), level, reason, clinician_id)
    assert raised.value.field == field
    assert isinstance(raised.value, ValueError)


def test_accept_needs_a_clinician() -> None:
    with pytest.raises(InvalidOverride) as raised:
        accept(recommendation_for_iop(), " ")
    assert raised.value.field == "clinician_id"
