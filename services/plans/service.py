from pathlib import Path

from iopnet.service import ServiceSpec
from services.plans import api
from services.plans.projections import PROJECTION
from services.plans.settings import PlansSettings

SPEC = ServiceSpec(
    name="plans",
    settings=PlansSettings,
    routers=[api.router],
    migrations=Path(__file__).parent / "migrations",
    projection=PROJECTION,
    patient_tables=("care_episodes",),
    description="Personalized treatment plans, their revisions, progress and step-down.",
)
