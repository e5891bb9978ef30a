"""Clinical codes that travel on events. Services keep richer models of their own."""

from __future__ import annotations

from enum import StrEnum


class Instrument(StrEnum):
    PHQ9 = "phq9"
    GAD7 = "gad7"
    CSSRS = "cssrs"
    AUDITC = "auditc"


class RiskLevel(StrEnum):
    """C-SSRS screener triage."""

    NONE = "none"
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


class LevelOfCare(StrEnum):
    INPATIENT = "inpatient"
    PARTIAL_HOSPITALIZATION = "partial_hospitalization"
    IOP = "iop"
    STANDARD_OUTPATIENT = "standard_outpatient"


class Modality(StrEnum):
    CBT = "cbt"
    DBT_SKILLS = "dbt_skills"
    GROUP_THERAPY = "group_therapy"
    INDIVIDUAL_COUNSELING = "individual_counseling"
    PSYCHOEDUCATION = "psychoeducation"
    MINDFULNESS = "mindfulness"
    SKILL_BUILDING = "skill_building"
    FAMILY_THERAPY = "family_therapy"
    RELAPSE_PREVENTION = "relapse_prevention"


class RiskSignal(StrEnum):
    """Why a clinician must look at a patient today."""

    PHQ9_ITEM9 = "phq9_item9"
    CSSRS_MODERATE = "cssrs_moderate"
    CSSRS_HIGH = "cssrs_high"
    PHQ9_MARKED_RISE = "phq9_marked_rise"


#: Weekly hours of services an IOP plans: at least 9 (42 CFR 410.44 and 424.24(d), from
#: the CY 2024 OPPS final rule) and under 20, where partial hospitalization begins
#: (at least 20 a week, 42 CFR 410.43 and 424.24(e)).
IOP_MIN_WEEKLY_HOURS = 9
PHP_MIN_WEEKLY_HOURS = 20

#: LOINC code of the PHQ-9 total score (for FHIR Observations).
PHQ9_TOTAL_LOINC = "44261-6"
