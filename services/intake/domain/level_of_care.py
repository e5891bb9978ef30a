"""The level-of-care recommendation after the initial assessment, and the clinician's decision.

Pure; no I/O. The rules, first match wins:

1. C-SSRS high (intent, plan, or behavior in the past 3 months) → inpatient, now.
   High risk by definition means intent, a plan or recent behavior, so the rule
   always recommends inpatient; partial hospitalization is a clinician's override
   (for example when the clinician judges day treatment with a safety plan enough).
2. Referral from an inpatient unit for step-down → IOP, whatever the PHQ-9.
3. PHQ-9 15 or more (moderately severe, severe) → IOP.
4. PHQ-9 10-14 (moderate) → IOP when something adds to the depression: co-occurring
   anxiety (GAD-7 ≥ 10), a positive AUDIT-C, or moderate C-SSRS risk.
5. Risk of harm alone, whatever the PHQ-9: item 9 above 0 or C-SSRS moderate → IOP.
   Thoughts of self-harm or a suicide method are not mild depression: weekly therapy is
   not enough until a clinician has evaluated the patient the same day and a safety
   plan exists (``missing_before_deciding``). The C-SSRS screener triages a method, or
   behaviour more than 3 months ago, as moderate risk calling for a mental-health
   evaluation (Posner et al. 2011, Am J Psychiatry 168:1266-1277); PHQ-9 item 9 predicts
   suicide attempts and deaths after adjusting for the total (Simon et al. 2013,
   Psychiatr Serv 64:1195-1202), so the total alone must not lower the level.
6. Otherwise PHQ-9 10-14 → standard outpatient, where weekly therapy suffices.
7. PHQ-9 below 10 (minimal, mild) → standard outpatient.

Independently of the level, PHQ-9 item 9 > 0 or a C-SSRS risk of moderate or high
raises ``urgent_alert``: a clinician reviews the patient the same day. The findings are
those still in force (``risk.RiskRecord``), not only the newest screen's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from iopnet.catalog import LevelOfCare, ReferralSource
from iopnet.fields import InvalidField
from services.intake.domain.instruments import (
    GAD7_POSITIVE_AT,
    AuditcResult,
    CssrsResult,
    CssrsRisk,
    Gad7Result,
    Phq9Result,
)


class CoOccurring(StrEnum):
    ANXIETY = "anxiety"
    ALCOHOL_USE = "alcohol_use"


class ReasonCode(StrEnum):
    HIGH_SUICIDE_RISK = "high_suicide_risk"
    INPATIENT_STEP_DOWN = "inpatient_step_down"
    SEVERE_DEPRESSION = "severe_depression"
    MODERATE_DEPRESSION_WITH_COMPLICATIONS = "moderate_depression_with_complications"
    MODERATE_DEPRESSION = "moderate_depression"
    MILD_DEPRESSION = "mild_depression"
    RISK_OF_HARM = "risk_of_harm"
    # Contributing findings, listed after the reason that decided the level:
    MODERATE_SUICIDE_RISK = "moderate_suicide_risk"
    CO_OCCURRING_ANXIETY = "co_occurring_anxiety"
    CO_OCCURRING_ALCOHOL_USE = "co_occurring_alcohol_use"
    SELF_HARM_THOUGHTS = "self_harm_thoughts"


@dataclass(frozen=True)
class Reason:
    code: ReasonCode
    text: str


@dataclass(frozen=True)
class Assessment:
    """The scored instruments of one initial assessment and where the referral came from."""

    phq9: Phq9Result
    cssrs: CssrsResult
    referral_source: ReferralSource
    gad7: Gad7Result | None = None
    auditc: AuditcResult | None = None
    #: The highest PHQ-9 item 9 still in force (None: the newest PHQ-9's own).
    item9_in_force: int | None = None
    #: Whether risk was ever found in this intake (a safety plan is then required).
    risk_ever_found: bool = False

    @property
    def self_harm_item9(self) -> int:
        return self.phq9.item9 if self.item9_in_force is None else self.item9_in_force

    @property
    def risk_found(self) -> bool:
        return (self.risk_ever_found or self.self_harm_item9 > 0
                or self.cssrs.risk is not CssrsRisk.NONE)


@dataclass(frozen=True)
class Recommendation:
    """The rules' recommendation; ``reasons[0]`` is the one that decided the level."""

    level: LevelOfCare
    reasons: tuple[Reason, ...]
    urgent_alert: bool
    co_occurring: tuple[CoOccurring, ...]
    #: Ideation, item 9 or a C-SSRS finding: no admission before a safety plan.
    safety_plan_required: bool = False

    @property
    def reason_codes(self) -> tuple[ReasonCode, ...]:
        return tuple(reason.code for reason in self.reasons)


class InvalidOverride(InvalidField):
    """An override the record cannot accept; ``field`` names the offending input."""



@dataclass(frozen=True)
class Decision:
    """The level of care a clinician decided, next to what the rules recommended."""

    recommendation: Recommendation
    decided: LevelOfCare
    clinician_id: str
    override_reason: str | None = None

    @property
    def recommended(self) -> LevelOfCare:
        return self.recommendation.level

    @property
    def overridden(self) -> bool:
        return self.decided is not self.recommendation.level


def recommend(assessment: Assessment) -> Recommendation:
    phq9, cssrs = assessment.phq9, assessment.cssrs
    co_occurring = _co_occurring(assessment)
    contributing = _contributing(assessment, co_occurring)
    complicated = bool(co_occurring) or cssrs.risk is CssrsRisk.MODERATE
    self_harm = assessment.self_harm_item9 > 0

    deciding: Reason
    if cssrs.risk is CssrsRisk.HIGH:
        level = LevelOfCare.INPATIENT
        deciding = Reason(
            ReasonCode.HIGH_SUICIDE_RISK,
            "C-SSRS high risk (intent, plan or behavior in the past 3 months): "
            "not an IOP admission; refer to inpatient care now",
        )
    elif assessment.referral_source == ReferralSource.INPATIENT_STEP_DOWN:
        level = LevelOfCare.IOP
        deciding = Reason(
            ReasonCode.INPATIENT_STEP_DOWN, "referred by an inpatient unit for step-down"
        )
    elif phq9.total >= 15:
        level = LevelOfCare.IOP
        deciding = Reason(
            ReasonCode.SEVERE_DEPRESSION,
            f"PHQ-9 {phq9.total} ({phq9.band.replace('_', ' ')}): 15 or more calls for IOP",
        )
    elif phq9.total >= 10 and complicated:
        level = LevelOfCare.IOP
        deciding = Reason(
            ReasonCode.MODERATE_DEPRESSION_WITH_COMPLICATIONS,
            f"PHQ-9 {phq9.total} (moderate) with co-occurring conditions or moderate "
            "suicide risk calls for IOP",
        )
    elif self_harm or cssrs.risk is CssrsRisk.MODERATE:
        level = LevelOfCare.IOP
        deciding = Reason(
            ReasonCode.RISK_OF_HARM,
            f"PHQ-9 {phq9.total} with thoughts of self-harm or moderate suicide risk: risk of "
            "harm alone calls for IOP until a same-day evaluation and a safety plan",
        )
    elif phq9.total >= 10:
        level = LevelOfCare.STANDARD_OUTPATIENT
        deciding = Reason(
            ReasonCode.MODERATE_DEPRESSION,
            f"PHQ-9 {phq9.total} (moderate) without co-occurring conditions or added "
            "risk: standard outpatient",
        )
    else:
        level = LevelOfCare.STANDARD_OUTPATIENT
        deciding = Reason(
            ReasonCode.MILD_DEPRESSION,
            f"PHQ-9 {phq9.total} ({phq9.band}): below 10, standard outpatient",
        )

    return Recommendation(
        level=level,
        reasons=(deciding, *contributing),
        urgent_alert=self_harm or cssrs.risk in (CssrsRisk.MODERATE, CssrsRisk.HIGH),
        co_occurring=co_occurring,
        safety_plan_required=assessment.risk_found,
    )


def accept(recommendation: Recommendation, clinician_id: str) -> Decision:
    """The clinician confirms the recommended level."""
    return Decision(recommendation, recommendation.level, _clinician(clinician_id))


def override(
    recommendation: Recommendation, level: LevelOfCare, reason: str, clinician_id: str
) -> Decision:
    """The clinician decides another level than recommended; the reason is required."""
    try:
        level = LevelOfCare(level)
    except ValueError:
        raise InvalidOverride("level", f"unknown level of care {level!r}") from None
    if level is recommendation.level:
        raise InvalidOverride("level", f"{level} is the recommended level: accept it instead")
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidOverride("reason", "an override needs a reason")
    return Decision(recommendation, level, _clinician(clinician_id), reason.strip())


def _clinician(clinician_id: str) -> str:
    if not isinstance(clinician_id, str) or not clinician_id.strip():
        raise InvalidOverride("clinician_id", "the deciding clinician is required")
    return clinician_id


def _co_occurring(assessment: Assessment) -> tuple[CoOccurring, ...]:
    found: list[CoOccurring] = []
    if assessment.gad7 is not None and assessment.gad7.total >= GAD7_POSITIVE_AT:
        found.append(CoOccurring.ANXIETY)
    if assessment.auditc is not None and assessment.auditc.positive:
        found.append(CoOccurring.ALCOHOL_USE)
    return tuple(found)


def _contributing(
    assessment: Assessment, co_occurring: tuple[CoOccurring, ...]
) -> list[Reason]:
    reasons: list[Reason] = []
    if assessment.self_harm_item9 > 0:
        reasons.append(Reason(
            ReasonCode.SELF_HARM_THOUGHTS,
            f"PHQ-9 item 9 is {assessment.self_harm_item9}: same-day clinician review",
        ))
    if assessment.cssrs.risk is CssrsRisk.MODERATE:
        reasons.append(Reason(
            ReasonCode.MODERATE_SUICIDE_RISK,
            "C-SSRS moderate risk (method, or behavior more than 3 months ago)",
        ))
    if CoOccurring.ANXIETY in co_occurring and assessment.gad7 is not None:
        reasons.append(Reason(
            ReasonCode.CO_OCCURRING_ANXIETY,
            f"GAD-7 {assessment.gad7.total}: co-occurring anxiety",
        ))
    if CoOccurring.ALCOHOL_USE in co_occurring and assessment.auditc is not None:
        reasons.append(Reason(
            ReasonCode.CO_OCCURRING_ALCOHOL_USE,
            f"AUDIT-C {assessment.auditc.total} (positive at {assessment.auditc.cut_off} "
            "or more): co-occurring alcohol use",
        ))
    return reasons


#: Levels of care from the least to the most intensive.
INTENSITY = (LevelOfCare.STANDARD_OUTPATIENT, LevelOfCare.IOP,
             LevelOfCare.PARTIAL_HOSPITALIZATION, LevelOfCare.INPATIENT)


def missing_before_deciding(decided: LevelOfCare, recommendation: Recommendation, *,
                            safety_plan: bool, evaluated: bool) -> list[str]:
    """What must be on record before a decision at ``decided`` is accepted, when risk was found.

    A referral to partial hospitalization or inpatient care never waits. IOP or a lower
    level needs a Stanley-Brown safety plan (Stanley & Brown 2012, Cognitive and Behavioral
    Practice 19:256-264: the plan is made with anyone who screens positive for suicide risk
    before they leave the assessing clinician), and a level lower than the rules recommend
    needs a clinician's same-day evaluation of the risk as well.
    """
    if not recommendation.safety_plan_required or _intensity(decided) > _intensity(
            LevelOfCare.IOP):
        return []
    missing = [] if safety_plan else ["a safety plan"]
    if _intensity(decided) < _intensity(recommendation.level) and not evaluated:
        missing.append("a same-day risk evaluation (a clinician's risk review)")
    return missing


def _intensity(level: LevelOfCare) -> int:
    return INTENSITY.index(level)
