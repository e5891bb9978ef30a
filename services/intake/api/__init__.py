"""Intake's HTTP API: patients, their assessment and admission, and the network registry."""

from services.intake.api import assessments, fhir_routes, network, patients, safety

routers = [patients.router, assessments.router, safety.router, network.router,
           fhir_routes.router]
