"""The instruments' LOINC codes, for whoever shows a score to other systems (FHIR).

Totals: PHQ-9 44261-6 and GAD-7 70274-6 (HL7's scored assessment score codes,
https://build.fhir.org/ig/HL7/personal-health-record-format-ig/ValueSet-observation-scored-assessment-score-codes.html),
AUDIT-C 75626-2 (US Core's Observation Screening Assessment example,
https://hl7.org/fhir/us/core/Observation-AUDIT-C-item-example-75626-2.html).
PHQ-9 items 1-9 as US Core's PHQ-9 Questionnaire example links them
(https://www.hl7.org/fhir/us/core/STU9/Questionnaire-phq-9-example.html). The C-SSRS
screener has no LOINC total and is not listed.
"""

from __future__ import annotations

from typing import Any

from iopnet.catalog.codes import Instrument

LOINC = "http://loinc.org"

SCORES: dict[Instrument, tuple[str, str]] = {
    Instrument.PHQ9: ("44261-6", "PHQ-9 total score"),
    Instrument.GAD7: ("70274-6", "GAD-7 total score"),
    Instrument.AUDITC: ("75626-2", "AUDIT-C total score"),
}

PHQ9_ITEMS: tuple[tuple[str, str], ...] = (
    ("44250-9", "Little interest or pleasure in doing things"),
    ("44255-8", "Feeling down, depressed, or hopeless"),
    ("44259-0", "Trouble falling or staying asleep, or sleeping too much"),
    ("44254-1", "Feeling tired or having little energy"),
    ("44251-7", "Poor appetite or overeating"),
    ("44258-2", "Feeling bad about yourself"),
    ("44252-5", "Trouble concentrating on things"),
    ("44253-3", "Moving or speaking slowly, or being fidgety or restless"),
    ("44260-8", "Thoughts that you would be better off dead, or of hurting yourself"),
)


def concept(code: str, text: str) -> dict[str, Any]:
    """A LOINC CodeableConcept."""
    return {"coding": [{"system": LOINC, "code": code}], "text": text}


def score_concept(instrument: Instrument) -> dict[str, Any]:
    return concept(*SCORES[instrument])


def phq9_item_concepts(answers: list[int]) -> list[tuple[dict[str, Any], int]]:
    """Each PHQ-9 item's concept with its answer (0-3), in order."""
    return [(concept(code, text), answer)
            for (code, text), answer in zip(PHQ9_ITEMS, answers, strict=True)]
