"""What a plan revision changes in the schedule: modalities added and dropped. Pure.

A modality is dropped when the revised plan gives it no sessions a week, either
explicitly (frequency 0) or by removing the last intervention that had it; it
is added when an intervention new to the plan (``added:<id>``) or a frequency
raised from 0 asks for it. The previous plan (PlanDrafted or an earlier
revision) is what "removed" and "raised" are measured against; without it only
the revision's own codes and explicit zeros count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from iopnet.catalog import Modality, PlannedIntervention

WeeklyPlan = Mapping[Modality, int]


def weekly_sessions(interventions: Iterable[PlannedIntervention]) -> dict[Modality, int]:
    """Sessions a week per modality, across the plan's interventions."""
    planned: dict[Modality, int] = {}
    for intervention in interventions:
        planned[intervention.modality] = (
            planned.get(intervention.modality, 0) + intervention.sessions_per_week)
    return planned


@dataclass(frozen=True)
class PlanChange:
    added: frozenset[Modality]
    dropped: frozenset[Modality]


def plan_change(
    interventions: Sequence[PlannedIntervention], changes: Sequence[str],
    previous: WeeklyPlan | None,
) -> PlanChange:
    planned = weekly_sessions(interventions)
    by_id = {i.intervention_id: i for i in interventions}
    added_ids = {code.split(":", 1)[1] for code in changes if code.startswith("added:")}
    added = {by_id[i].modality for i in added_ids if i in by_id}
    dropped = {m for m, per_week in planned.items() if per_week == 0}
    if previous is not None:
        added |= {m for m, n in planned.items() if n > 0 and previous.get(m, 0) == 0}
        dropped |= {m for m, n in previous.items() if n > 0 and planned.get(m, 0) == 0}
    added = {m for m in added if planned.get(m, 0) > 0}
    return PlanChange(frozenset(added), frozenset(dropped))
