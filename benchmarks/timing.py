"""Shared by the per-part timing scripts in this folder (run as scripts, so this folder is on sys.path)."""

from __future__ import annotations

import time
from typing import Callable


def best_ms(work: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` calls after one warm-up call, in milliseconds."""
    work()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return 1000 * min(times)
