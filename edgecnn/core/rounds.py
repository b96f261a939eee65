"""Latency ratios from alternating rounds, with an interval, and the decision they allow.

Candidates timed in alternating rounds (A, B, A, B, ... each in its own process) see the machine's drift
together, so each round gives one ratio a_i / b_i. The figure is the median of those ratios; its interval is the
distribution-free one for a median (order statistics of the per-round ratios, coverage from the binomial
distribution: with 5 rounds, [min, max] covers the median with 93.75 %). An interval that holds 1 is a tie: the
rounds cannot order the two, and no choice is made on speed alone.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass

CONFIDENCE = 0.95


@dataclass(frozen=True)
class RatioInterval:
    ratio: float  # median of the per-round ratios a_i / b_i
    low: float
    high: float
    coverage: float  # the probability that [low, high] holds the true median ratio
    rounds: int

    @property
    def verdict(self) -> str:
        """"lower" (a is faster), "higher" (a is slower) or "tie" (the interval holds 1)."""
        if self.high < 1.0:
            return "lower"
        if self.low > 1.0:
            return "higher"
        return "tie"

    @property
    def tie(self) -> bool:
        return self.verdict == "tie"

    def describe(self) -> str:
        words = {"lower": "faster", "higher": "slower", "tie": "a tie"}[self.verdict]
        return (f"{self.ratio:.3f} [{self.low:.3f}, {self.high:.3f}] ({self.rounds} rounds, "
                f"{100 * self.coverage:.1f} % interval): {words}")

    def to_dict(self) -> dict:
        return {**asdict(self), "verdict": self.verdict}


def _binomial_tail(n: int, k: int) -> float:
    """P(X < k) for X ~ Binomial(n, 1/2)."""
    return sum(math.comb(n, i) for i in range(k)) / 2 ** n


def median_interval(values: list[float], confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(low, high, coverage): the narrowest order-statistic interval [v_(k), v_(n-k+1)] whose coverage of the
    median is at least ``confidence``; with too few values for that, [min, max] and its (lower) coverage."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("no rounds")
    best_k = 1
    for k in range(1, n // 2 + 1):
        if 1 - 2 * _binomial_tail(n, k) >= confidence:
            best_k = k
    coverage = 1 - 2 * _binomial_tail(n, best_k)
    return ordered[best_k - 1], ordered[n - best_k], coverage


def paired_ratio(a_rounds: list[float], b_rounds: list[float], confidence: float = CONFIDENCE) -> RatioInterval:
    """a / b from rounds where a_i and b_i were timed in the same round (the shorter list sets the rounds)."""
    ratios = [a / b for a, b in zip(a_rounds, b_rounds) if b > 0]
    if not ratios:
        raise ValueError("no paired rounds")
    low, high, coverage = median_interval(ratios, confidence)
    return RatioInterval(statistics.median(ratios), low, high, coverage, len(ratios))


__all__ = ["RatioInterval", "median_interval", "paired_ratio"]
