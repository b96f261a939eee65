"""Latency of several artifacts measured in one run, alternating in rounds.

The machine's speed drifts (other work, thermal state); measuring A, B, C, A,
B, C, ... and taking each one's median p50 over the rounds makes their *ratio*
trustworthy even when absolute figures move. ONNX Runtime's spinning threads
are turned off so one session does not slow the next.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from ..engines.base import Runner
from .latency import measure_latency, random_feed


@dataclass
class RoundsResult:
    label: str
    p50_ms: float  # median over rounds of each round's p50
    rounds_p50_ms: list[float]


def alternating_latency(runners: dict[str, Runner], batch: int = 1, rounds: int = 5, round_s: float = 1.0,
                        warmup_s: float = 0.5) -> dict[str, RoundsResult]:
    active = {label: runner.activate() for label, runner in runners.items()}
    feeds = {label: random_feed(runner, batch) for label, runner in active.items()}
    samples: dict[str, list[float]] = {label: [] for label in active}
    try:
        for label, runner in active.items():  # warm every session once
            measure_latency(runner, feeds[label], warmup_s=warmup_s, min_runs=3, min_time_s=0.0)
        for _ in range(rounds):
            for label, runner in active.items():
                stats = measure_latency(runner, feeds[label], warmup_s=0.0, min_runs=10, min_time_s=round_s)
                samples[label].append(stats.p50_ms)
    finally:
        for runner in active.values():
            runner.deactivate()
    return {label: RoundsResult(label, statistics.median(values), values) for label, values in samples.items()}
