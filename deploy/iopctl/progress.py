"""Concise, flushed progress lines, so a CI log never stays silent for long."""

from __future__ import annotations

import sys
import time

_T0 = time.monotonic()


def say(component: str, message: str) -> None:
    elapsed = time.monotonic() - _T0
    print(f"[iopctl {elapsed:6.1f}s] {component}: {message}", file=sys.stdout, flush=True)
