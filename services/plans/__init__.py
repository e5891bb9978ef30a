"""Plans: personalized treatment plans, their revisions, progress and step-down."""
