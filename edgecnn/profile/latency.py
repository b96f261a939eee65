"""Latency of a Runner: warm-up by time, then runs until both a minimum count and time.

Each run is timed with ``time.perf_counter_ns`` around ``runner.infer`` alone;
the feed is built once, so the loop measures the engine, not the harness.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..core.device import latency_stats, time_calls
from ..engines.base import Runner


@dataclass
class LatencyStats:
    batch: int
    runs: int
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    cv: float  # coefficient of variation (std / mean)
    throughput: float  # images per second at p50

    def to_dict(self) -> dict:
        return asdict(self)


def summarize_times(times_ms: list[float], batch: int) -> LatencyStats:
    """The statistics of a run of timings, computed by the code bundles ship (edgecnn_device/stats.py)."""
    return LatencyStats(**latency_stats(times_ms, batch))


def random_feed(runner: Runner, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feed = {}
    for spec in runner.input_specs:
        dims = [batch] + [d if isinstance(d, int) and d > 0 else runner.info.input_size[i]
                          for i, d in enumerate(spec.shape[1:])]
        feed[spec.name] = rng.standard_normal(dims).astype(np.float32)
    return feed


def measure_latency(runner: Runner, feed: dict[str, np.ndarray], *, warmup_s: float, min_runs: int,
                    min_time_s: float, max_runs: int = 100_000, between=None, starts: list[float] | None = None,
                    times: list[float] | None = None) -> LatencyStats:
    """Time ``runner`` on ``feed`` (the how-long options and their defaults: :class:`~.options.Timing`).
    ``between`` (a sensor reading) runs between timed calls, about once a second; ``starts`` and ``times``
    receive each call's start (s) and duration (ms), for a latency-over-time plot."""
    batch = int(next(iter(feed.values())).shape[0])
    measured = time_calls(lambda: runner.infer(feed), warmup_s=warmup_s, min_runs=min_runs, min_time_s=min_time_s,
                          max_runs=max_runs, between=between, starts=starts)
    if times is not None:
        times.extend(measured)
    return summarize_times(measured, batch)


__all__ = ["LatencyStats", "measure_latency", "random_feed", "summarize_times"]
