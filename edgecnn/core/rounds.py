"""Latency ratios from alternating rounds, with an interval, and the decision they allow.

Candidates timed in alternating rounds (A, B, A, B, ... each in its own process) see the machine's drift
together, so each round gives one ratio a_i / b_i. The figure is the median of those ratios; its interval is the
distribution-free one for a median (order statistics of the per-round ratios, coverage from the binomial
distribution: with 5 rounds, [min, max] covers the median with 93.75 %). An interval that holds 1 is a tie: the
rounds cannot order the two, and no choice is made on speed alone. Nor is a difference of less than
:data:`CLEAR_FACTOR` (2.5x) called from fewer rounds than give an interval of :data:`DECISIVE_COVERAGE` (5): with 3
rounds, [min, max] covers the median only 75 % of the time, and two runs of the same comparison (5-15 % apart)
called it "faster" once and "a tie" once. On the shared development host a process sometimes runs a whole
measurement about 2x faster than its neighbours (OpenVINO resnet50 INT8: 5.1 ms, then 9.4 and 10.2 ms), so a
factor under 2.5 is not "clear" from three rounds either. That too is a tie, to be timed again; an FP32 file 3x
slower than its INT8 file is still told apart in 3 rounds.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass

CONFIDENCE = 0.95
DECISIVE_COVERAGE = 0.9  # the least coverage an interval needs to order two close candidates (5 rounds: 93.75 %)
CLEAR_FACTOR = 2.5  # a ratio beyond this (either way) is called from fewer rounds


@dataclass(frozen=True)
class RatioInterval:
    ratio: float  # median of the per-round ratios a_i / b_i
    low: float
    high: float
    coverage: float  # the probability that [low, high] holds the true median ratio
    rounds: int

    @property
    def decisive(self) -> bool:
        """Enough rounds to order the two: an interval of DECISIVE_COVERAGE, or a ratio beyond CLEAR_FACTOR."""
        return self.coverage >= DECISIVE_COVERAGE or not 1 / CLEAR_FACTOR < self.ratio < CLEAR_FACTOR

    @property
    def verdict(self) -> str:
        """"lower" (a is faster), "higher" (a is slower) or "tie" (the interval holds 1, or too few rounds)."""
        if self.decisive and self.high < 1.0:
            return "lower"
        if self.decisive and self.low > 1.0:
            return "higher"
        return "tie"

    @property
    def tie(self) -> bool:
        return self.verdict == "tie"

    def describe(self) -> str:
        words = {"lower": "faster", "higher": "slower", "tie": "a tie"}[self.verdict]
        if self.verdict == "tie" and not self.decisive and (self.high < 1.0 or self.low > 1.0):
            words = "a tie (too few rounds to order them)"
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


__all__ = ["CLEAR_FACTOR", "DECISIVE_COVERAGE", "RatioInterval", "median_interval", "paired_ratio"]
