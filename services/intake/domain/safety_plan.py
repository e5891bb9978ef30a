"""The Stanley-Brown safety plan. Pure; no I/O.

Stanley & Brown 2012, "Safety Planning Intervention: A Brief Intervention to Mitigate
Suicide Risk", Cognitive and Behavioral Practice 19:256-264. A written, prioritized list
in six steps: (1) warning signs of an impending crisis; (2) internal coping strategies;
(3) people and social settings that provide distraction; (4) people to ask for help;
(5) mental-health professionals and agencies to contact; (6) making the environment
safe (restricting access to lethal means). Every step is filled in: a plan missing one
is refused, naming it. The 988 Suicide & Crisis Lifeline is always among the agencies
of step 5 (added when the clinician did not list it).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from iopnet.fields import InvalidField

CRISIS_LINE = "988 Suicide & Crisis Lifeline (call or text 988)"
Entries = list[str]


class InvalidSafetyPlan(InvalidField):
    """A safety plan missing a step; ``field`` names the step."""


class SafetyPlan(BaseModel):
    """The six steps, each a prioritized list of the patient's own words."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    warning_signs: Entries = Field(default_factory=list)
    coping_strategies: Entries = Field(default_factory=list)
    distractions: Entries = Field(default_factory=list,
                                  description="People and social settings for distraction")
    people_to_ask_for_help: Entries = Field(default_factory=list)
    professionals_and_agencies: Entries = Field(default_factory=list)
    making_the_environment_safe: Entries = Field(default_factory=list,
                                                 description="Lethal means restricted")


STEPS = tuple(SafetyPlan.model_fields)


def complete(plan: SafetyPlan) -> SafetyPlan:
    """The plan with every step filled in and the 988 Lifeline among the agencies."""
    for step in STEPS:
        entries = [entry.strip() for entry in getattr(plan, step)]
        if not any(entries):
            raise InvalidSafetyPlan(step, "every step of the safety plan needs an entry")
        if any(not entry for entry in entries):
            raise InvalidSafetyPlan(step, "entries must not be blank")
    agencies = plan.professionals_and_agencies
    if not any("988" in entry for entry in agencies):
        agencies = [*agencies, CRISIS_LINE]
    return plan.model_copy(update={"professionals_and_agencies": agencies})
