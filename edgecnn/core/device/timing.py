"""Timing: warm up, then time each call alone until enough runs and enough time are reached."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable


def time_calls(call, *, warmup_s: float, min_runs: int, min_time_s: float, max_runs: int = 100_000,
               between: Callable[[], object] | None = None, every_s: float = 1.0,
               starts: list[float] | None = None) -> list[float]:
    """Warm up for ``warmup_s`` seconds, then time ``call()`` until both ``min_runs`` and ``min_time_s`` are met;
    milliseconds per call, each timed alone with perf_counter_ns (the harness is not in the figure).

    ``between`` (a sensor reading) runs every ``every_s`` seconds *between* two timed calls, in this thread, so
    nothing runs beside a call; ``starts`` receives each call's start, in seconds from the first."""
    deadline = time.perf_counter() + warmup_s
    call()
    while time.perf_counter() < deadline:
        call()
    times: list[float] = []
    started = time.perf_counter()
    clock = time.perf_counter_ns
    if between is None and starts is None:  # the plain loop: nothing but the clock around each call
        while (len(times) < min_runs or time.perf_counter() - started < min_time_s) and len(times) < max_runs:
            t0 = clock()
            call()
            times.append((clock() - t0) / 1e6)
        return times
    origin, tick = clock(), time.perf_counter() + every_s
    while (len(times) < min_runs or time.perf_counter() - started < min_time_s) and len(times) < max_runs:
        t0 = clock()
        call()
        t1 = clock()
        times.append((t1 - t0) / 1e6)
        if starts is not None:
            starts.append((t0 - origin) / 1e9)
        if between is not None and time.perf_counter() >= tick:
            between()
            tick = time.perf_counter() + every_s
    return times


def process_age_s() -> float | None:
    """Seconds since this process started (Linux: /proc/self/stat's start time against /proc/uptime), or None
    where it cannot tell: the cold start's "process start to model loaded" includes the interpreter and imports."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of stat, counted after the name
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def cold_start(loading: float, loaded: float, first_ms: dict, compile_s: float | None = None) -> dict:
    """What starting the model on demand costs (``loading``, ``loaded``: perf_counter around the load): process
    start to model loaded (imports included), the load (reading the file, building the session; a compile inside
    it, given apart where the runtime has one) and the first inference of each batch, before any warm-up."""
    age = process_age_s()
    return {"process_to_loaded_s": None if age is None else age - (time.perf_counter() - loaded),
            "load_s": loaded - loading, "compile_s": compile_s,
            "first_inference_ms": {str(b): ms for b, ms in first_ms.items()}}
