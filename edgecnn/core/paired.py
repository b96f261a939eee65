"""Is one artifact's accuracy really different from another's on the same images?

Two models scored on the same n images differ only on the images where one is right and the other
wrong (the discordant pairs); everything else cancels. This module gives, for per-image correctness
vectors ``a`` and ``b``:

* the difference of top-1 (b - a) in points, the images each gets right that the other gets wrong;
* the exact McNemar test (two-sided binomial test on the discordant pairs, p = 1 when there are none);
* a paired bootstrap interval of the difference (the same images resampled for both);
* plain words: within noise (p >= alpha) or not, and roughly how many images would decide a
  difference of the observed size (McNemar's sample size for 80 % power, Connor 1987).

A metric that is not a mean of per-image right/wrong (mean IoU: computed from the pixel counts of all
images together) gets :func:`paired_bootstrap`: the images resampled, the metric recomputed for both
models on each resample; the difference is called real when the interval leaves out zero.

Pure Python + numpy, no SciPy: shipped with bundles is not needed, but it stays dependency-light.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

Z = {0.90: 1.6449, 0.95: 1.9600, 0.99: 2.5758}
Z_POWER_80 = 0.8416
MIN_BOOTSTRAP_IMAGES = 10  # fewer: a bootstrap interval is printed, but no difference is called real


def _binomial_two_sided(k: int, n: int) -> float:
    """Exact two-sided p of k successes in n fair trials (sum of the probabilities no larger than P(k))."""
    if n == 0:
        return 1.0
    probs = [math.comb(n, i) / 2**n for i in range(n + 1)]
    observed = probs[k]
    return min(1.0, sum(p for p in probs if p <= observed * (1 + 1e-9)))


def images_to_decide(delta: float, discordant_rate: float, alpha: float = 0.05) -> int | None:
    """Images McNemar's test needs to call a true difference ``delta`` (fraction) significant with 80 % power,
    given the fraction of images the two models disagree on; None when there is no difference to detect."""
    if delta == 0 or discordant_rate <= 0 or discordant_rate < delta**2:
        return None
    z_alpha = Z.get(1 - alpha, 1.96)
    n = (z_alpha * math.sqrt(discordant_rate) + Z_POWER_80 * math.sqrt(discordant_rate - delta**2)) ** 2 / delta**2
    return math.ceil(n)


def paired_difference(a, b, *, confidence: float = 0.95, resamples: int = 5000, seed: int = 0,
                      alpha: float = 0.05, unit: str = "images") -> dict:
    """How b's top-1 differs from a's on the same images, with its uncertainty (see the module doc)."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ValueError("paired accuracy needs two per-image correctness vectors over the same images")
    n = len(a)
    b_only = int(np.sum(b & ~a))  # b right, a wrong
    a_only = int(np.sum(a & ~b))
    diff = (b_only - a_only) / n
    p = _binomial_two_sided(min(a_only, b_only), a_only + b_only)
    rng = np.random.default_rng(seed)
    per_image = b.astype(np.int8) - a.astype(np.int8)
    samples = per_image[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(samples, [tail, 1 - tail])
    significant = p < alpha
    needed = images_to_decide(diff, (a_only + b_only) / n, alpha)
    if significant:
        words = f"a real difference (McNemar p = {p:.3g})"
    else:
        more = f"; about {needed} {unit} would decide a difference this size" if needed and needed > n else ""
        words = f"within noise on {n} {unit} (McNemar p = {p:.2f}){more}"
    return {"images": n, "difference_points": 100 * diff, "interval_points": [100 * float(low), 100 * float(high)],
            "confidence": confidence, "b_only": b_only, "a_only": a_only, "mcnemar_p": p,
            "significant": significant, "images_to_decide": needed, "words": words, "unit": unit}


def paired_bootstrap(a_items, b_items, metric: Callable[[np.ndarray], float], *, confidence: float = 0.95,
                     resamples: int = 2000, seed: int = 0) -> dict:
    """How ``metric(b_items) - metric(a_items)`` (in points: metric x 100) would vary over other images like
    these: per-image items of two models (the same images in the same order, e.g. confusion matrices), the
    images resampled together. ``metric`` maps a stack of items to a fraction."""
    a, b = np.asarray(a_items), np.asarray(b_items)
    if a.shape != b.shape or not len(a):
        raise ValueError("a paired bootstrap needs per-image items of two models over the same images")
    n = len(a)
    diff = metric(b) - metric(a)
    rng = np.random.default_rng(seed)
    samples = np.array([metric(b[pick]) - metric(a[pick]) for pick in rng.integers(0, n, size=(resamples, n))])
    samples = samples[np.isfinite(samples)]
    tail = (1 - confidence) / 2
    low, high = np.quantile(samples, [tail, 1 - tail]) if len(samples) else (math.nan, math.nan)
    if n < MIN_BOOTSTRAP_IMAGES:  # resampling a handful of images gives intervals far too narrow to trust
        significant = False
        words = (f"only {n} images: too few to tell a difference from noise (a bootstrap over fewer than "
                 f"{MIN_BOOTSTRAP_IMAGES} images is too rough to trust)")
    else:
        significant = bool(low > 0 or high < 0)
        words = ("a real difference (the interval leaves out zero)" if significant else
                 f"within noise on {n} images (the interval holds zero)")
    return {"images": n, "difference_points": 100 * float(diff), "interval_points": [100 * float(low), 100 * float(high)],
            "confidence": confidence, "method": "bootstrap", "mcnemar_p": None, "significant": significant,
            "images_to_decide": None, "words": words}


def describe(result: dict, a_name: str = "FP32", b_name: str = "INT8") -> str:
    """One line: 'INT8 vs FP32: -3.47 points [-6.25, -0.69] (95 %), right on 1 / wrong on 6 of 144 ...'."""
    low, high = result["interval_points"]
    if result.get("method") == "bootstrap":
        return (f"{b_name} vs {a_name}: {result['difference_points']:+.2f} points [{low:+.2f}, {high:+.2f}] "
                f"({100 * result['confidence']:.0f} % paired bootstrap over {result['images']} images): {result['words']}")
    return (f"{b_name} vs {a_name}: {result['difference_points']:+.2f} points [{low:+.2f}, {high:+.2f}] "
            f"({100 * result['confidence']:.0f} % paired bootstrap); {b_name} alone right on {result['b_only']}, "
            f"{a_name} alone right on {result['a_only']} of {result['images']} {result.get('unit', 'images')}: "
            f"{result['words']}")
