"""Plans' HTTP API: the care episode, the treatment plan and its revisions, progress,
step-down, step-up and discharge."""

from services.plans.api import care, fhir_routes, outcomes, plans, stay, suggestions

routers = [plans.router, suggestions.router, care.router, stay.router, outcomes.router,
           fhir_routes.router]
