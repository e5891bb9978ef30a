"""The one exception type iopctl raises for problems it can explain."""

from __future__ import annotations


class InfraError(RuntimeError):
    """A local infrastructure step failed; the message says what and where to look."""
