"""Sessions' HTTP API: programs and groups, patients' schedules, attendance, outcomes."""

from services.sessions.api import attendance, fhir_routes, patients, programs

routers = [programs.router, patients.router, attendance.router, fhir_routes.router]
