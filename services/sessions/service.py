from pathlib import Path

from iopnet.service import ServiceSpec
from services.sessions import api
from services.sessions.projections import PROJECTION
from services.sessions.settings import SessionsSettings

SPEC = ServiceSpec(
    name="sessions",
    settings=SessionsSettings,
    routers=[api.router],
    migrations=Path(__file__).parent / "migrations",
    projection=PROJECTION,
    patient_tables=("enrollments",),
    description="Programs, groups, schedules, attendance and outcome measures.",
)
