"""Family: support persons, the patient's consent to share, family sessions."""
