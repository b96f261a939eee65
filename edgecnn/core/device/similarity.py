"""Similarity (Siamese models): pairs drawn deterministically, and the verification metrics over their scores."""

from __future__ import annotations

import numpy as np


def draw_pairs(labels, count: int, seed: int = 0) -> list[tuple[int, int, bool]]:
    """``count`` pairs of image indices, half of the same class and half of different classes, drawn
    deterministically from ``seed`` (the same labels and seed give the same pairs everywhere)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng([seed, 104729])
    by_class = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    pairable = [c for c, members in by_class.items() if len(members) >= 2]
    if not pairable or len(by_class) < 2:
        raise ValueError("pairs need two classes, one of them with at least two images")
    classes = sorted(by_class)
    pairs = []
    for k in range(count):
        if k % 2 == 0:
            c = pairable[int(rng.integers(len(pairable)))]
            i, j = rng.choice(by_class[c], size=2, replace=False)
            pairs.append((int(i), int(j), True))
        else:
            a, b = rng.choice(len(classes), size=2, replace=False)
            pairs.append((int(rng.choice(by_class[classes[a]])), int(rng.choice(by_class[classes[b]])), False))
    return pairs


def roc_auc(scores, same) -> float:
    """Area under the ROC curve: the chance that a same-class pair scores above a different-class pair (ties half)."""
    scores, same = np.asarray(scores, dtype=np.float64), np.asarray(same, dtype=bool)
    positives, negatives = scores[same], scores[~same]
    if not len(positives) or not len(negatives):
        return float("nan")
    order = np.argsort(np.concatenate([positives, negatives]), kind="mergesort")
    ranks = np.empty(len(order))
    values = np.concatenate([positives, negatives])[order]
    start = 0
    for end in range(1, len(values) + 1):  # average ranks over ties
        if end == len(values) or values[end] != values[start]:
            ranks[order[start:end]] = (start + end + 1) / 2
            start = end
    return float((ranks[:len(positives)].sum() - len(positives) * (len(positives) + 1) / 2)
                 / (len(positives) * len(negatives)))


def best_threshold(scores, same) -> tuple[float, float]:
    """(threshold, accuracy): the similarity threshold (same class when score >= threshold) that decides the most
    pairs right; the midpoint between neighbouring scores, so that it generalizes no further than the data says."""
    scores, same = np.asarray(scores, dtype=np.float64), np.asarray(same, dtype=bool)
    values = np.unique(scores)
    candidates = np.concatenate([[values[0] - 1e-6], (values[1:] + values[:-1]) / 2, [values[-1] + 1e-6]])
    accuracies = [float(np.mean((scores >= t) == same)) for t in candidates]
    best = int(np.argmax(accuracies))
    return float(candidates[best]), accuracies[best]


def verification_metrics(scores, same, threshold: float, far: float = 1e-2) -> dict:
    """Accuracy at ``threshold``, ROC-AUC, and the true-accept rate at the strictest threshold whose false-accept
    rate is at most ``far`` (with N different-class pairs, FAR steps are 1/N: say how many there were)."""
    scores, same = np.asarray(scores, dtype=np.float64), np.asarray(same, dtype=bool)
    negatives = np.sort(scores[~same])[::-1]
    allowed = int(np.floor(far * len(negatives)))  # how many different-class pairs may be accepted
    strict = negatives[allowed] + 1e-9 if allowed < len(negatives) else -np.inf
    return {"accuracy": float(np.mean((scores >= threshold) == same)), "threshold": float(threshold),
            "roc_auc": roc_auc(scores, same), "tar_at_far": float(np.mean(scores[same] >= strict)), "far": far,
            "pairs": int(len(scores)), "same_pairs": int(same.sum()), "different_pairs": int((~same).sum())}


def cosine_similarity(a, b) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    return np.sum(a * b, axis=-1)
