from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from services.plans.domain.plan_drafting import (
    AddIntervention,
    ChangeFrequency,
    Findings,
    FrequencyChanged,
    InterventionAdded,
    InterventionRemoved,
    InvalidPlanInput,
    Modality,
    ProblemCode,
    RemoveIntervention,
    RiskLevel,
    TreatmentPlan,
    draft_plan,
    revise,
)

pytestmark = pytest.mark.unit

START = date(2026, 12, 1)
END = date(2027, 2, 9)  # 10 weeks on
BASE = Findings(
    baseline_phq9=18,
    risk=RiskLevel.NONE,
    auditc_positive=False,
    days_per_week=4,
    planned_weeks=10,
    start_date=START,
    clinician_id="c-7",
)
DEPRESSION_CORE = [
    Modality.GROUP_THERAPY,
    Modality.CBT,
    Modality.INDIVIDUAL_COUNSELING,
    Modality.PSYCHOEDUCATION,
    Modality.MINDFULNESS,
]


def frequencies(plan: TreatmentPlan) -> dict[Modality, int]:
    return {i.modality: i.sessions_per_week for i in plan.interventions}


def test_depression_only_plan() -> None:
    plan = draft_plan(BASE)
    assert plan.revision == 1
    assert (plan.start_date, plan.target_date, plan.clinician_id) == (START, END, "c-7")
    assert [(p.id, p.code) for p in plan.problems] == [("P1", ProblemCode.DEPRESSION)]
    assert plan.objective_ids() == ("P1.G1.O1",)
    assert [i.modality for i in plan.interventions] == DEPRESSION_CORE
    assert [i.id for i in plan.interventions] == ["I1", "I2", "I3", "I4", "I5"]
    assert frequencies(plan) == {
        Modality.GROUP_THERAPY: 4,
        Modality.CBT: 1,
        Modality.INDIVIDUAL_COUNSELING: 1,
        Modality.PSYCHOEDUCATION: 1,
        Modality.MINDFULNESS: 1,
    }
    for intervention in plan.interventions:
        assert intervention.clinician_id == "c-7"
        assert intervention.target_date == END
        assert intervention.addresses == ("P1.G1.O1",)
    assert plan.last_intervention_number == 5


@pytest.mark.parametrize("days", [3, 5])
def test_group_therapy_on_every_program_day(days: int) -> None:
    plan = draft_plan(replace(BASE, days_per_week=days))
    assert frequencies(plan)[Modality.GROUP_THERAPY] == days


@pytest.mark.parametrize(("baseline", "half"), [(18, 9), (21, 10), (15, 7)])
def test_depression_objective_is_measurable_and_personal(baseline: int, half: int) -> None:
    objective = draft_plan(replace(BASE, baseline_phq9=baseline)).problems[0].goals[0].objectives[0]
    assert objective.target_date == END
    assert "PHQ-9 below 10" in objective.text
    assert f"baseline of {baseline} (at most {half})" in objective.text
    assert str(END) in objective.text


@pytest.mark.parametrize(("gad7", "anxiety"), [(None, False), (0, False), (9, False), (10, True)])
def test_co_occurring_anxiety_from_gad7_10(gad7: int | None, anxiety: bool) -> None:
    plan = draft_plan(replace(BASE, gad7=gad7))
    codes = [p.code for p in plan.problems]
    assert (ProblemCode.ANXIETY in codes) is anxiety
    assert ({Modality.DBT_SKILLS, Modality.SKILL_BUILDING} <= plan.modalities()) is anxiety
    if anxiety:
        anxiety_problem = plan.problems[1]
        assert anxiety_problem.id == "P2"
        assert anxiety_problem.goals[0].objectives[0].id == "P2.G1.O1"
        dbt = next(i for i in plan.interventions if i.modality is Modality.DBT_SKILLS)
        assert dbt.addresses == ("P2.G1.O1",)


def test_positive_auditc_adds_a_substance_use_problem_with_relapse_prevention() -> None:
    plan = draft_plan(replace(BASE, auditc_positive=True))
    assert [(p.id, p.code) for p in plan.problems] == [
        ("P1", ProblemCode.DEPRESSION),
        ("P2", ProblemCode.ALCOHOL_USE),
    ]
    relapse = next(i for i in plan.interventions if i.modality is Modality.RELAPSE_PREVENTION)
    assert relapse.addresses == ("P2.G1.O1",)
    assert Modality.RELAPSE_PREVENTION not in draft_plan(BASE).modalities()


def test_anxiety_then_alcohol_are_numbered_in_order() -> None:
    plan = draft_plan(replace(BASE, gad7=15, auditc_positive=True))
    assert [(p.id, p.code) for p in plan.problems] == [
        ("P1", ProblemCode.DEPRESSION),
        ("P2", ProblemCode.ANXIETY),
        ("P3", ProblemCode.ALCOHOL_USE),
    ]
    ids = [i.id for i in plan.interventions]
    assert ids == [f"I{n}" for n in range(1, len(ids) + 1)]


def test_the_draft_never_plans_family_therapy() -> None:
    """Consent to disclose is not an indication: a clinician decides family therapy."""
    assert Modality.FAMILY_THERAPY not in draft_plan(BASE).modalities()


@pytest.mark.parametrize(
    ("risk", "safety"),
    [(RiskLevel.NONE, False), (RiskLevel.LOW, True), (RiskLevel.MODERATE, True)],
)
def test_low_or_moderate_risk_adds_a_safety_planning_objective(
    risk: RiskLevel, safety: bool
) -> None:
    plan = draft_plan(replace(BASE, risk=risk))
    assert ("P1.G2.O1" in plan.objective_ids()) is safety
    counseling = next(
        i for i in plan.interventions if i.modality is Modality.INDIVIDUAL_COUNSELING
    )
    assert ("P1.G2.O1" in counseling.addresses) is safety
    if safety:
        objective = plan.problems[0].goals[1].objectives[0]
        assert objective.target_date == START
        assert "safety plan" in objective.text


def test_the_same_findings_draft_the_same_plan() -> None:
    findings = replace(BASE, gad7=12, auditc_positive=True, risk=RiskLevel.LOW)
    assert draft_plan(findings) == draft_plan(findings)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"baseline_phq9": 28}, "baseline_phq9"),
        ({"baseline_phq9": -1}, "baseline_phq9"),
        ({"gad7": 22}, "gad7"),
        ({"risk": RiskLevel.HIGH}, "risk"),
        ({"risk": "imminent"}, "risk"),
        ({"days_per_week": 0}, "days_per_week"),
        ({"days_per_week": 8}, "days_per_week"),
        ({"planned_weeks": 0}, "planned_weeks"),
        ({"clinician_id": " "}, "clinician_id"),
    ],
)
def test_draft_rejects_impossible_findings(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidPlanInput) as raised:
        draft_plan(replace(BASE, **changes))
    assert raised.value.field == field


# --- Revisions -------------------------------------------------------------------------


def test_revise_adds_removes_and_changes_frequency() -> None:
    plan = draft_plan(BASE)
    revision = revise(
        plan,
        [
            ChangeFrequency("I1", 5),
            RemoveIntervention("I5"),
            AddIntervention(Modality.DBT_SKILLS, 2, ("P1.G1.O1",), "c-9"),
        ],
        "  more structure after a difficult week  ",
    )
    revised = revision.plan
    assert revised.revision == 2
    assert revision.reason == "more structure after a difficult week"
    assert [i.id for i in revised.interventions] == ["I1", "I2", "I3", "I4", "I6"]
    assert frequencies(revised)[Modality.GROUP_THERAPY] == 5
    added = revised.intervention("I6")
    assert added is not None
    assert (added.modality, added.sessions_per_week, added.clinician_id) == (
        Modality.DBT_SKILLS,
        2,
        "c-9",
    )
    assert added.target_date == plan.target_date
    removed = plan.intervention("I5")
    assert removed is not None
    assert revision.changes == (
        FrequencyChanged("I1", Modality.GROUP_THERAPY, 4, 5),
        InterventionRemoved(removed),
        InterventionAdded(added),
    )
    assert plan.revision == 1 and len(plan.interventions) == 5  # the old plan is untouched


def test_removed_intervention_ids_are_never_reused() -> None:
    plan = draft_plan(BASE)
    first = revise(plan, [RemoveIntervention("I5")], "done with mindfulness").plan
    second = revise(
        first, [AddIntervention(Modality.MINDFULNESS, 1, ("P1.G1.O1",), "c-7")], "back"
    ).plan
    assert [i.id for i in second.interventions] == ["I1", "I2", "I3", "I4", "I6"]
    assert second.revision == 3


def test_added_intervention_keeps_its_own_target_date() -> None:
    plan = draft_plan(BASE)
    target = date(2027, 1, 5)
    revision = revise(
        plan,
        [AddIntervention(Modality.FAMILY_THERAPY, 1, ("P1.G1.O1",), "c-7", target)],
        "family consent given",
    )
    change = revision.changes[0]
    assert isinstance(change, InterventionAdded)
    assert change.intervention.target_date == target


@pytest.mark.parametrize(
    ("changes", "reason", "field"),
    [
        ([ChangeFrequency("I1", 5)], "", "reason"),
        ([ChangeFrequency("I1", 5)], "   ", "reason"),
        ([], "why", "changes"),
        ([RemoveIntervention("I99")], "why", "changes[0].intervention_id"),
        ([ChangeFrequency("I1", 5), ChangeFrequency("I9", 1)], "why", "changes[1].intervention_id"),
        ([ChangeFrequency("I1", 0)], "why", "changes[0].sessions_per_week"),
        ([ChangeFrequency("I1", 8)], "why", "changes[0].sessions_per_week"),
        ([ChangeFrequency("I1", 4)], "why", "changes[0].sessions_per_week"),
        ([RemoveIntervention("I2"), RemoveIntervention("I2")], "why", "changes[1].intervention_id"),
        (
            [AddIntervention(Modality.CBT, 1, ("P2.G1.O1",), "c-7")],
            "why",
            "changes[0].addresses",
        ),
        ([AddIntervention(Modality.CBT, 1, (), "c-7")], "why", "changes[0].addresses"),
        ([AddIntervention(Modality.CBT, 1, ("P1.G1.O1",), "")], "why", "changes[0].clinician_id"),
        (
            [AddIntervention("yoga", 1, ("P1.G1.O1",), "c-7")],  # type: ignore[arg-type]
            "why",
            "changes[0].modality",
        ),
        (["remove I1"], "why", "changes[0]"),
    ],
)
def test_revise_rejects_invalid_changes(changes: Any, reason: str, field: str) -> None:
    with pytest.raises(InvalidPlanInput) as raised:
        revise(draft_plan(BASE), changes, reason)
    assert raised.value.field == field
