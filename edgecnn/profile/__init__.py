"""Latency, memory and accuracy measurement through the Runner interface."""

from .latency import LatencyStats, measure_latency

__all__ = ["LatencyStats", "measure_latency"]
