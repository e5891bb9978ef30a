"""The standardized instruments of the initial assessment, scored. Pure; no I/O.

PHQ-9 (depression), GAD-7 (anxiety), the C-SSRS screener (suicide risk) and
AUDIT-C (alcohol use). Each scorer validates the raw responses, raising
``InvalidResponses`` with the offending field ("items", "items[3]", "sex_at_birth", ...;
item indexes are 0-based, so PHQ-9 item 9 is "items[8]").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Generic, TypeVar

from iopnet.catalog import PHQ9_TOTAL_LOINC as PHQ9_TOTAL_LOINC
from iopnet.catalog import Instrument as Instrument

# The codes travel on events, so they live in the catalog; re-exported here.
from iopnet.fields import InvalidField

PHQ9_ITEMS = 9
PHQ9_MAX_TOTAL = 27
GAD7_ITEMS = 7
#: GAD-7 at or above this total is the usual positive screen (probable anxiety disorder).
GAD7_POSITIVE_AT = 10
AUDITC_ITEMS = 3




class InvalidResponses(InvalidField):
    """Responses an instrument cannot score; ``field`` names the offending input."""



class Flag(StrEnum):
    #: Needs a clinician's review the same day (PHQ-9 item 9 > 0; C-SSRS moderate or high).
    RISK_SIGNAL = "risk_signal"
    #: At or above the instrument's screening cut-off.
    POSITIVE_SCREEN = "positive_screen"
    #: C-SSRS high: not an IOP admission, refer to a higher level of care now.
    REFER_HIGHER_LEVEL = "refer_higher_level"


class Phq9Band(StrEnum):
    MINIMAL = "minimal"
    MILD = "mild"
    MODERATE = "moderate"
    MODERATELY_SEVERE = "moderately_severe"
    SEVERE = "severe"


class Gad7Band(StrEnum):
    MINIMAL = "minimal"
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"


class CssrsRisk(StrEnum):
    NONE = "none"
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


class AuditcBand(StrEnum):
    NEGATIVE = "negative"
    POSITIVE = "positive"


class SexAtBirth(StrEnum):
    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    UNKNOWN = "unknown"


BandT = TypeVar("BandT", bound=StrEnum)


@dataclass(frozen=True)
class Score(Generic[BandT]):
    """What every instrument yields: its code, a total, a band and flags."""

    instrument: Instrument
    total: int
    band: BandT
    flags: frozenset[Flag]

    def has(self, flag: Flag) -> bool:
        return flag in self.flags


@dataclass(frozen=True)
class Phq9Result(Score[Phq9Band]):
    item9: int

    @property
    def risk_signal(self) -> bool:
        """Item 9 > 0: same-day clinician review, whatever the total."""
        return self.item9 > 0


@dataclass(frozen=True)
class Gad7Result(Score[Gad7Band]):
    pass


@dataclass(frozen=True)
class CssrsAnswers:
    """The screener's yes/no answers.

    ``behavior_within_3_months`` is asked only when ``behavior`` is yes: it must
    be given then; otherwise it may be left out (None) or no, never yes.
    """

    wish_to_be_dead: bool
    suicidal_thoughts: bool
    method: bool
    intent: bool
    plan: bool
    behavior: bool
    behavior_within_3_months: bool | None = None


@dataclass(frozen=True)
class CssrsResult(Score[CssrsRisk]):
    """``total`` is the number of yes answers (0-6); triage depends on which, not how many."""

    answers: CssrsAnswers

    @property
    def risk(self) -> CssrsRisk:
        return self.band


@dataclass(frozen=True)
class AuditcResult(Score[AuditcBand]):
    sex: SexAtBirth
    cut_off: int

    @property
    def positive(self) -> bool:
        return self.band is AuditcBand.POSITIVE


def score_phq9(items: Sequence[int]) -> Phq9Result:
    values = _items(items, count=PHQ9_ITEMS, highest=3)
    total = sum(values)
    flags = set[Flag]()
    if values[8] > 0:
        flags.add(Flag.RISK_SIGNAL)
    if total >= 10:
        flags.add(Flag.POSITIVE_SCREEN)
    return Phq9Result(Instrument.PHQ9, total, phq9_band(total), frozenset(flags), values[8])


def phq9_band(total: int) -> Phq9Band:
    _total(total, "total", PHQ9_MAX_TOTAL)
    if total <= 4:
        return Phq9Band.MINIMAL
    if total <= 9:
        return Phq9Band.MILD
    if total <= 14:
        return Phq9Band.MODERATE
    if total <= 19:
        return Phq9Band.MODERATELY_SEVERE
    return Phq9Band.SEVERE


def response(baseline: int, current: int) -> bool:
    """A PHQ-9 total at least 50% below the baseline. A baseline of 0 has no response."""
    _total(baseline, "baseline", PHQ9_MAX_TOTAL)
    _total(current, "current", PHQ9_MAX_TOTAL)
    return baseline > 0 and 2 * (baseline - current) >= baseline


def remission(total: int) -> bool:
    """A PHQ-9 total below 5."""
    _total(total, "total", PHQ9_MAX_TOTAL)
    return total < 5


def score_gad7(items: Sequence[int]) -> Gad7Result:
    values = _items(items, count=GAD7_ITEMS, highest=3)
    total = sum(values)
    flags = frozenset({Flag.POSITIVE_SCREEN}) if total >= GAD7_POSITIVE_AT else frozenset()
    return Gad7Result(Instrument.GAD7, total, gad7_band(total), flags)


def gad7_band(total: int) -> Gad7Band:
    _total(total, "total", GAD7_ITEMS * 3)
    if total <= 4:
        return Gad7Band.MINIMAL
    if total <= 9:
        return Gad7Band.MILD
    if total <= 14:
        return Gad7Band.MODERATE
    return Gad7Band.SEVERE


_CSSRS_QUESTIONS = ("wish_to_be_dead", "suicidal_thoughts", "method", "intent", "plan", "behavior")


def score_cssrs(answers: CssrsAnswers | Mapping[str, object]) -> CssrsResult:
    """Triage: intent, plan or behavior in the past 3 months → high; method, or older
    behavior → moderate; a wish to be dead or suicidal thoughts only → low; else none."""
    checked = _cssrs_answers(answers)
    if checked.intent or checked.plan or (checked.behavior and checked.behavior_within_3_months):
        risk = CssrsRisk.HIGH
    elif checked.method or checked.behavior:
        risk = CssrsRisk.MODERATE
    elif checked.wish_to_be_dead or checked.suicidal_thoughts:
        risk = CssrsRisk.LOW
    else:
        risk = CssrsRisk.NONE
    flags = set[Flag]()
    if risk is not CssrsRisk.NONE:
        flags.add(Flag.POSITIVE_SCREEN)
    if risk in (CssrsRisk.MODERATE, CssrsRisk.HIGH):
        flags.add(Flag.RISK_SIGNAL)
    if risk is CssrsRisk.HIGH:
        flags.add(Flag.REFER_HIGHER_LEVEL)
    yes = sum(getattr(checked, question) for question in _CSSRS_QUESTIONS)
    return CssrsResult(Instrument.CSSRS, yes, risk, frozenset(flags), checked)


def score_auditc(items: Sequence[int], sex: SexAtBirth | str) -> AuditcResult:
    """Positive at 4 or more for men, 3 or more for women.

    For ``other`` and ``unknown`` the more sensitive cut-off (3) applies: a missed
    alcohol problem costs more than a second look at a false positive.
    """
    values = _items(items, count=AUDITC_ITEMS, highest=4)
    try:
        sex = SexAtBirth(sex)
    except ValueError:
        raise InvalidResponses(
            "sex_at_birth", f"must be one of {', '.join(SexAtBirth)}, not {sex!r}"
        ) from None
    cut_off = 4 if sex is SexAtBirth.MALE else 3
    total = sum(values)
    positive = total >= cut_off
    return AuditcResult(
        Instrument.AUDITC,
        total,
        AuditcBand.POSITIVE if positive else AuditcBand.NEGATIVE,
        frozenset({Flag.POSITIVE_SCREEN}) if positive else frozenset(),
        sex,
        cut_off,
    )


def _items(items: Sequence[int], *, count: int, highest: int) -> tuple[int, ...]:
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise InvalidResponses("items", f"must be a list of {count} integers")
    if len(items) != count:
        raise InvalidResponses("items", f"expected {count} items, got {len(items)}")
    for index, value in enumerate(items):
        if not _is_int(value):
            raise InvalidResponses(f"items[{index}]", f"must be an integer, not {value!r}")
        if not 0 <= value <= highest:
            raise InvalidResponses(f"items[{index}]", f"must be 0-{highest}, not {value}")
    return tuple(items)


def _total(value: int, field: str, highest: int) -> None:
    if not _is_int(value):
        raise InvalidResponses(field, f"must be an integer, not {value!r}")
    if not 0 <= value <= highest:
        raise InvalidResponses(field, f"must be 0-{highest}, not {value}")


def _is_int(value: object) -> bool:
    # bool is an int to Python, never a valid item score.
    return isinstance(value, int) and not isinstance(value, bool)


def _cssrs_answers(answers: CssrsAnswers | Mapping[str, object]) -> CssrsAnswers:
    if isinstance(answers, CssrsAnswers):
        given: Mapping[str, object] = {f.name: getattr(answers, f.name) for f in fields(answers)}
    elif isinstance(answers, Mapping):
        given = answers
        unknown = sorted(set(given) - {f.name for f in fields(CssrsAnswers)})
        if unknown:
            raise InvalidResponses(unknown[0], "is not a C-SSRS screener question")
    else:
        raise InvalidResponses("answers", "must be the screener's yes/no answers")
    for question in _CSSRS_QUESTIONS:
        if question not in given:
            raise InvalidResponses(question, "is required")
        if not isinstance(given[question], bool):
            raise InvalidResponses(question, f"must be yes or no, not {given[question]!r}")
    recent = given.get("behavior_within_3_months")
    if recent is not None and not isinstance(recent, bool):
        raise InvalidResponses("behavior_within_3_months", f"must be yes or no, not {recent!r}")
    # When behavior is unknown in time we cannot tell moderate from high: ask, don't guess.
    if given["behavior"] and recent is None:
        raise InvalidResponses("behavior_within_3_months", "is required when behavior is yes")
    if not given["behavior"] and recent:
        raise InvalidResponses("behavior_within_3_months", "is asked only when behavior is yes")
    return CssrsAnswers(
        wish_to_be_dead=given["wish_to_be_dead"] is True,
        suicidal_thoughts=given["suicidal_thoughts"] is True,
        method=given["method"] is True,
        intent=given["intent"] is True,
        plan=given["plan"] is True,
        behavior=given["behavior"] is True,
        behavior_within_3_months=recent,
    )
