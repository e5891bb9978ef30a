"""Intake: referrals, assessments, the level-of-care decision and admissions."""
