"""A process's long-lived heap, kept out of the cyclic garbage collector's passes.

What lives once a process has started (modules, event models and their validators,
the app and its routes) lives until it exits. A consumer's batch or a burst of
requests makes many objects that live a while (records, events, held writes, open
requests), so the collector often goes through every generation, and each full
pass went through that start-up heap too: about 40% of the CPU an applied schedule
took in a consumer (docs/benchmarks.md, "The garbage collector").
"""

from __future__ import annotations

import functools
import gc


@functools.cache
def freeze_what_lives_now() -> None:
    """Once a process: garbage at this moment is collected, what is left is frozen
    (``gc.freeze``): never collected, never traversed again."""
    gc.collect()
    gc.freeze()
