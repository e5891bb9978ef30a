"""Notifications' HTTP API: messages and deliveries, contacts, site channels and templates."""

from services.notifications.api import alerts, messages, settings

routers = [messages.router, settings.router, alerts.router]
