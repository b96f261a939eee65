"""Timing: warm up, then time each call alone until enough runs and enough time are reached."""

from __future__ import annotations

import time


def time_calls(call, *, warmup_s: float, min_runs: int, min_time_s: float, max_runs: int = 100_000) -> list[float]:
    """Warm up for ``warmup_s`` seconds, then time ``call()`` until both ``min_runs`` and ``min_time_s`` are met;
    milliseconds per call, each timed alone with perf_counter_ns (the harness is not in the figure)."""
    deadline = time.perf_counter() + warmup_s
    call()
    while time.perf_counter() < deadline:
        call()
    times: list[float] = []
    started = time.perf_counter()
    clock = time.perf_counter_ns
    while (len(times) < min_runs or time.perf_counter() - started < min_time_s) and len(times) < max_runs:
        t0 = clock()
        call()
        times.append((clock() - t0) / 1e6)
    return times
