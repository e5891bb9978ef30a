"""Age at referral, the ages a program serves, and the guardian a minor needs. Pure.

Programs live in sessions, which intake cannot read; a program states its age range by
the convention of its id instead: an id with the segment ``adolescent`` (``iop-adolescent``,
``north.adolescent.iop``) serves ages 12 to 17, every other program adults (18 and over).
A patient outside the program's range on the start day is refused. Someone under 18 is
referred with a guardian (a parent or legal guardian consents to a minor's treatment),
and can be admitted to an adolescent program only.
"""

from __future__ import annotations

import re
from datetime import date

from iopnet.fields import InvalidField

ADULT_AT = 18
ADOLESCENT_FROM = 12
_SEGMENTS = re.compile(r"[-_.:]")


def age_on(birth_date: date, day: date) -> int:
    """Whole years completed on ``day`` (a 29 February birthday counts on 1 March)."""
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - before_birthday


def ages_served(program_id: str) -> range:
    """The ages a program serves, from its id (see the module's docstring)."""
    if "adolescent" in _SEGMENTS.split(program_id.lower()):
        return range(ADOLESCENT_FROM, ADULT_AT)
    return range(ADULT_AT, 200)


def require_program_fits(program_id: str, birth_date: date, start_date: date) -> None:
    age, served = age_on(birth_date, start_date), ages_served(program_id)
    if age not in served:
        who = "an adolescent program (12-17)" if age < ADULT_AT else "an adult program"
        raise InvalidField("program_id", f"the patient is {age} on {start_date}; "
                           f"{program_id} serves ages {served.start}-{served.stop - 1}: "
                           f"admit to {who}")


def require_guardian(birth_date: date, referred_on: date, has_guardian: bool) -> int:
    """The age at referral; a minor without a guardian is refused."""
    age = age_on(birth_date, referred_on)
    if age < ADULT_AT and not has_guardian:
        raise InvalidField("patient.guardian",
                           f"the patient is {age}: a minor is referred with a guardian")
    return age
