from pathlib import Path

from iopnet.service import ServiceSpec
from services.intake.api import routers
from services.intake.projections import PATIENT_TABLES, project
from services.intake.settings import IntakeSettings
from services.intake.upgrades import UPGRADES

SPEC = ServiceSpec(
    name="intake",
    settings=IntakeSettings,
    routers=routers,
    migrations=Path(__file__).parent / "migrations",
    description="Referrals, assessments, level-of-care decisions, admissions, and the "
    "network's registry of sites and API keys.",
    patient_tables=PATIENT_TABLES,
    learns_network_from_kafka=False,
    upgrades=UPGRADES,
    derived_tables=PATIENT_TABLES,
    project_own=project,
)
