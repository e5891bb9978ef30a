"""Intake's HTTP API: patients (referral, admission, transfer) and the network registry."""

from services.intake.api import network, patients

routers = [patients.router, network.router]
