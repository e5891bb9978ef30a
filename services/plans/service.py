from pathlib import Path

from iopnet.service import ServiceSpec
from services.plans.api import routers
from services.plans.consumed import PROJECTION
from services.plans.projections import project_plan
from services.plans.settings import PlansSettings
from services.plans.store import DERIVED_TABLES, PATIENT_TABLES
from services.plans.upgrades import UPGRADES

SPEC = ServiceSpec(
    name="plans",
    settings=PlansSettings,
    routers=routers,
    migrations=Path(__file__).parent / "migrations",
    projection=PROJECTION,
    patient_tables=PATIENT_TABLES,
    patient_site_table="care_episodes",
    upgrades=UPGRADES,
    derived_tables=DERIVED_TABLES,
    project_own=project_plan,
    description="Personalized treatment plans, their revisions, progress and step-down.",
)
