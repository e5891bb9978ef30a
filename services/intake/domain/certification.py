"""A physician's certification of the need for IOP, and when it must be renewed. Pure.

Medicare pays for intensive outpatient services only when a physician certifies that
the patient needs them (at least 9 hours a week) and recertifies that need no less
frequently than every other month: 42 CFR 424.24(e), as amended for IOP by the CY 2024
OPPS/ASC final rule (CMS-1786-FC, 88 FR 81540; Social Security Act §1861(ff)(3) as
amended by the Consolidated Appropriations Act, 2023 §4124). ``recertify_by`` is the
day two calendar months after the certification (the last day of the month when that
month is shorter).

The diagnoses are ICD-10-CM codes of depressive episodes (F32.x: single episode, F32.A
unspecified) or recurrent major depressive disorder (F33.x): the program treats
depression, so a certification names at least one of them.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from iopnet.fields import InvalidField

RECERTIFY_EVERY_MONTHS = 2
#: F32.0-F32.9, F32.81/F32.89, F32.A; F33.0-F33.9, F33.40-F33.42.
DEPRESSION_CODE = re.compile(r"^F3[23]\.(?:[0-9]{1,2}|A)$")


@dataclass(frozen=True)
class Certification:
    certified_by: str
    certified_on: date
    diagnosis_codes: tuple[str, ...]

    @property
    def recertify_by(self) -> date:
        return months_after(self.certified_on, RECERTIFY_EVERY_MONTHS)

    def overdue_on(self, day: date) -> bool:
        return day > self.recertify_by


def certification(certified_by: str, certified_on: date, diagnosis_codes: list[str],
                  today: date, referred_on: date) -> Certification:
    """A certification the record can accept; InvalidField names what it cannot."""
    if certified_on > today:
        raise InvalidField("certification.certified_on",
                           f"{certified_on} is after today ({today}) at the site")
    if certified_on < referred_on:
        raise InvalidField("certification.certified_on",
                           f"{certified_on} is before the referral ({referred_on})")
    if not diagnosis_codes:
        raise InvalidField("certification.diagnosis_codes", "at least one diagnosis is needed")
    for n, code in enumerate(diagnosis_codes):
        if not DEPRESSION_CODE.match(code):
            raise InvalidField(f"certification.diagnosis_codes[{n}]",
                               f"{code!r} is not an ICD-10-CM F32.x or F33.x code")
    return Certification(certified_by, certified_on, tuple(diagnosis_codes))


def months_after(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
