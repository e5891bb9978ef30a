"""Intake's HTTP API: patients, their assessment and admission, and the network registry."""

from services.intake.api import assessments, network, patients

routers = [patients.router, assessments.router, network.router]
