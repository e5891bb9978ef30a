"""The plans domain, pure: care episodes, treatment plans and their rules."""

from services.plans.domain.episode import CareEpisode, PlanStatus, open_episode

__all__ = ["CareEpisode", "PlanStatus", "open_episode"]
