"""How long a patient's records are kept before they may be forgotten. Pure; no I/O.

The period is the site's ``record_retention_years`` (six by default: HIPAA keeps
required documentation six years from its creation or last effective date,
45 CFR 164.316(b)(2)(i)), counted from the patient's last recorded event.
"""

from __future__ import annotations

from datetime import date


class StillRetained(Exception):
    """Forgetting was asked for inside the retention period, without an override."""

    def __init__(self, until: date) -> None:
        super().__init__(
            f"the patient's records are kept until {until.isoformat()} (the site's retention "
            "period, counted from the last record); set override_retention, with the reason, "
            "to forget the patient sooner")
        self.until = until


def retained_until(last_recorded: date, years: int) -> date:
    """The first day the records may be forgotten; 29 February counts to 28 February."""
    try:
        return last_recorded.replace(year=last_recorded.year + years)
    except ValueError:
        return last_recorded.replace(year=last_recorded.year + years, day=28)
