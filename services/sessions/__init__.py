"""Sessions: programs, groups, schedules, attendance and outcome measures."""
