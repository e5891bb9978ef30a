"""The initial assessment: raw responses scored, and what they signal. Pure; no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from iopnet.catalog import Instrument, ReferralSource, RiskSignal
from services.intake.domain.instruments import (
    AuditcResult,
    CssrsResult,
    CssrsRisk,
    Gad7Result,
    InvalidResponses,
    Phq9Result,
    Score,
    score_auditc,
    score_cssrs,
    score_gad7,
    score_phq9,
)
from services.intake.domain.level_of_care import Assessment
from services.intake.domain.risk import WINDOWS, RiskRecord, inside_window

#: What an admission decision needs at the least.
REQUIRED_FOR_DECISION = (Instrument.PHQ9, Instrument.CSSRS)


@dataclass(frozen=True)
class Responses:
    """What the clinician's system sent for one instrument, not yet scored."""

    instrument: Instrument
    items: Sequence[int] | None = None
    answers: Mapping[str, object] | None = None
    sex_at_birth: str | None = None


def score(responses: Responses) -> Score[Any]:
    """Score one instrument; InvalidResponses names the field at fault."""
    match responses.instrument:
        case Instrument.PHQ9:
            return score_phq9(_required(responses.items, "items"))
        case Instrument.GAD7:
            return score_gad7(_required(responses.items, "items"))
        case Instrument.CSSRS:
            return _within("answers", score_cssrs, _required(responses.answers, "answers"))
        case Instrument.AUDITC:
            return score_auditc(_required(responses.items, "items"),
                                _required(responses.sex_at_birth, "sex_at_birth"))
    raise InvalidResponses("instrument", f"unknown instrument {responses.instrument!r}")


@dataclass(frozen=True)
class Scored:
    """Responses and their score: what an assessment records."""

    responses: Responses
    result: Score[Any]

    @classmethod
    def of(cls, responses: Responses) -> Scored:
        """InvalidResponses names the field at fault."""
        return cls(responses, score(responses))


def risk_signals(result: Score[Any]) -> list[RiskSignal]:
    """Signals that call for a clinician's review today."""
    if isinstance(result, Phq9Result) and result.risk_signal:
        return [RiskSignal.PHQ9_ITEM9]
    if isinstance(result, CssrsResult) and result.risk is CssrsRisk.HIGH:
        return [RiskSignal.CSSRS_HIGH]
    if isinstance(result, CssrsResult) and result.risk is CssrsRisk.MODERATE:
        return [RiskSignal.CSSRS_MODERATE]
    return []


class AssessmentIncomplete(ValueError):
    """A decision was asked for before the instruments it needs were recorded."""


def initial_assessment(latest: Mapping[Instrument, Score[Any]],
                       source: ReferralSource) -> Assessment:
    """The latest result of each instrument, ready for the level-of-care rules."""
    missing = [i.value for i in REQUIRED_FOR_DECISION if i not in latest]
    if missing:
        raise AssessmentIncomplete(f"record {' and '.join(missing)} first")
    phq9, cssrs = latest[Instrument.PHQ9], latest[Instrument.CSSRS]
    gad7, auditc = latest.get(Instrument.GAD7), latest.get(Instrument.AUDITC)
    assert isinstance(phq9, Phq9Result) and isinstance(cssrs, CssrsResult)
    assert gad7 is None or isinstance(gad7, Gad7Result)
    assert auditc is None or isinstance(auditc, AuditcResult)
    return Assessment(phq9=phq9, cssrs=cssrs, referral_source=source, gad7=gad7, auditc=auditc)


def decision_assessment(record: RiskRecord, source: ReferralSource, day: date) -> Assessment:
    """What a decision on ``day`` rests on: the newest answers to each instrument inside its
    window, with every risk finding still in force (``risk``), not only the newest screen's.
    """
    current: dict[Instrument, Score[Any]] = {}
    for screen in sorted(record.screens, key=lambda s: (s.assessed_on, s.order)):
        if inside_window(screen, day):
            current[screen.instrument] = screen.result
    missing = [f"{i.value} (none in the last {WINDOWS[i].days} days)"
               for i in REQUIRED_FOR_DECISION if i not in current]
    if missing:
        raise AssessmentIncomplete(f"record {' and '.join(missing)} first")
    newest = initial_assessment(current, source)
    return replace(newest, cssrs=record.cssrs_in_force(day),
                   item9_in_force=record.item9_in_force(day),
                   risk_ever_found=record.risk_ever_found)


def _within(field: str, scorer: Any, value: Any) -> Score[Any]:
    """Score ``value``; a fault inside it is named from ``field`` (``answers.intent``)."""
    try:
        result: Score[Any] = scorer(value)
    except InvalidResponses as invalid:
        inner = invalid.field
        raise InvalidResponses(inner if inner == field else f"{field}.{inner}",
                               invalid.message) from None
    return result


def _required(value: Any, field: str) -> Any:
    if value is None:
        raise InvalidResponses(field, "is required for this instrument")
    return value
