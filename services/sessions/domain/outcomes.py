"""Outcome measures taken during the program: the weekly PHQ-9, and the risks it shows. Pure.

- Item 9 (thoughts of being better off dead or of self-harm) above 0 is a risk
  signal whatever the total: a clinician reviews the patient the same day.
- A marked rise is a total at least 5 points above the admission baseline or
  above the previous measure (5 points is the PHQ-9's minimal clinically
  important change).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from iopnet.catalog import Instrument, RiskLevel, RiskSignal
from iopnet.fields import InvalidField

PHQ9_ITEMS = 9
ITEM_MAX = 3
MARKED_RISE = 5
_PHQ9_BANDS = ((20, "severe"), (15, "moderately_severe"), (10, "moderate"), (5, "mild"),
               (0, "minimal"))


class InvalidMeasure(InvalidField):
    """A measure the rules cannot score; ``field`` names the input at fault (``items/3``)."""



@dataclass(frozen=True)
class Phq9:
    items: tuple[int, ...]

    def __post_init__(self) -> None:
        check_items(self.items, PHQ9_ITEMS, "PHQ-9")

    @property
    def total(self) -> int:
        return sum(self.items)

    @property
    def item9(self) -> int:
        return self.items[8]

    @property
    def band(self) -> str:
        return phq9_band(self.total)


def check_items(items: Sequence[int], count: int, name: str) -> None:
    """``count`` items, each an integer 0-3 (InvalidMeasure names the one at fault)."""
    if len(items) != count:
        raise InvalidMeasure("items", f"the {name} has {count} items, not {len(items)}")
    for number, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, int) or \
                not 0 <= item <= ITEM_MAX:
            raise InvalidMeasure(f"items/{number}", f"must be 0-{ITEM_MAX}")


def phq9_band(total: int) -> str:
    return next(band for floor, band in _PHQ9_BANDS if total >= floor)


@dataclass(frozen=True)
class Measure:
    measure_id: str
    instrument: Instrument
    total: int
    item9: int | None
    measured_on: date
    program_week: int
    risk_level: RiskLevel | None = None
    """The C-SSRS's triage."""


def program_week(starts_on: date, measured_on: date) -> int:
    if measured_on < starts_on:
        raise InvalidMeasure("measured_on", f"before the program started on {starts_on}")
    return (measured_on - starts_on).days // 7 + 1


def risk_signals(phq9: Phq9, baseline: int | None, earlier: Sequence[Measure]
                 ) -> list[RiskSignal]:
    signals = []
    if phq9.item9 > 0:
        signals.append(RiskSignal.PHQ9_ITEM9)
    previous = earlier[-1].total if earlier else None
    if any(ref is not None and phq9.total - ref >= MARKED_RISE for ref in (baseline, previous)):
        signals.append(RiskSignal.PHQ9_MARKED_RISE)
    return signals
