"""Comparing two models' outputs on the same inputs: one implementation for export verification,
quantization agreement and ``edgecnn compare``."""

from __future__ import annotations

import numpy as np


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two arrays, flattened, in float64 (1.0 for two equal all-zero arrays)."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    if denom == 0:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float(np.dot(a, b) / denom)


def compare_outputs(reference: np.ndarray, other: np.ndarray) -> dict:
    """samples, max and mean abs error, cosine, and (for N x classes outputs) top-1 agreement."""
    a, b = np.asarray(reference, dtype=np.float64), np.asarray(other, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"outputs of shape {list(a.shape)} and {list(b.shape)} cannot be compared")
    result = {"samples": int(len(a)), "max_abs_error": float(np.max(np.abs(a - b))) if a.size else 0.0,
              "mean_abs_error": float(np.mean(np.abs(a - b))) if a.size else 0.0, "cosine": cosine(a, b),
              "top1_agreement": None}
    if a.ndim >= 2 and a.shape[1] > 1:
        result["top1_agreement"] = float(np.mean(a.argmax(1) == b.argmax(1)))
    return result
