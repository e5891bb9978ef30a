"""Family's HTTP API: the circle, support persons, consent, family sessions, the shared view."""

from services.family.api import family_sessions, fhir_routes, shared_view, support_persons

routers = [support_persons.router, family_sessions.router, shared_view.router,
           fhir_routes.router]
