"""Notifications: messages to patients, families and clinicians, and their delivery."""
