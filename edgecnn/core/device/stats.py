"""Latency statistics: the percentiles every figure is quoted with."""

from __future__ import annotations

import numpy as np


def latency_stats(times_ms, batch: int) -> dict:
    """p50/p90/p95/p99, mean, std (n-1), min, max, coefficient of variation and throughput at p50."""
    data = np.asarray(times_ms, dtype=np.float64)
    mean = float(data.mean())
    std = float(data.std(ddof=1)) if len(data) > 1 else 0.0
    p50 = float(np.percentile(data, 50))
    return {"batch": int(batch), "runs": int(len(data)), "mean_ms": mean, "std_ms": std, "min_ms": float(data.min()),
            "max_ms": float(data.max()), "p50_ms": p50, "p90_ms": float(np.percentile(data, 90)),
            "p95_ms": float(np.percentile(data, 95)), "p99_ms": float(np.percentile(data, 99)),
            "cv": std / mean if mean else 0.0, "throughput": batch * 1000.0 / p50 if p50 else 0.0}
