"""The one exception type iopctl raises for problems it can explain."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path


class InfraError(RuntimeError):
    """A local infrastructure step failed; the message says what and where to look."""


def print_path_main(produce: Callable[[], Path]) -> int:
    """``python -m`` entry of a builder: print what ``produce`` returns, or why it failed."""
    try:
        print(produce())
    except InfraError as exc:
        print(f"iopctl: error: {exc}", file=sys.stderr)
        return 1
    return 0
