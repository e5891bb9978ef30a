from pathlib import Path

from iopnet.service import ServiceSpec
from services.sessions.api import routers
from services.sessions.consumed import PATIENT_TABLES, PROJECTION
from services.sessions.projections import DERIVED_TABLES, project
from services.sessions.settings import SessionsSettings
from services.sessions.upgrades import UPGRADES
from services.sessions.weekly_review import review_finished_weeks

SPEC = ServiceSpec(
    name="sessions",
    settings=SessionsSettings,
    routers=routers,
    migrations=Path(__file__).parent / "migrations",
    projection=PROJECTION,
    patient_tables=PATIENT_TABLES,
    patient_site_table="enrollments",
    description="Programs, groups, schedules, attendance and outcome measures.",
    background=[review_finished_weeks],
    upgrades=UPGRADES,
    derived_tables=DERIVED_TABLES,
    project_own=project,
)
