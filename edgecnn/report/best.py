"""Pick for me: per device, the fastest engine x precision x artifact whose accuracy stays within the budget.

Latency is each operating point's p50 at its smallest batch (what one request sees); the reference accuracy
is the best FP32 score of the task's headline metric (top-1, mean IoU) measured on that device; a candidate
qualifies when its score is at most ``max_drop`` points below it. Without accuracy figures nothing can be said to
qualify, and the choice says so.

Where the rows carry the p50 of each alternating round (``rounds_p50_ms``: ``profile --best``), the fastest
candidate is held to every other qualifying one by the paired ratio of their rounds (:mod:`edgecnn.core.rounds`):
a candidate whose interval holds 1 ties with it, and a tie is not decided by speed: the more accurate, then the
smaller file, wins it.
"""

from __future__ import annotations

from ..core.rounds import paired_ratio
from ..tasks.registry import headline_key, headline_label
from .pareto import operating_points

DEFAULT_MAX_DROP = 1.0  # top-1 points, when the recipe sets no quantize.max_drop


OBJECTIVES = ("latency", "throughput")


def pick_best(rows: list[dict], max_drop: float | None = None, objective: str = "latency") -> dict[str, dict]:
    """{device: {engine, precision, artifact, batch, p50_ms, metric, score, reference, max_drop, reason}}: the
    score is the task's headline metric (top-1 for classifiers, mean IoU for segmentation; also kept as ``top1``
    and ``reference_top1`` for classifiers). ``objective`` latency: the lowest single-stream p50 (offline rows,
    whose latency is a request's under load, are left out); throughput: the most images per second of any row
    (an offline scenario's streams and batch, or single-stream), with its scenario and streams."""
    budget = DEFAULT_MAX_DROP if max_drop is None else max_drop
    key = headline_key(rows)
    label = headline_label(key)
    if objective == "throughput":
        return _highest_throughput(rows, budget, key, label)
    rows = [r for r in rows if r.get("scenario", "single-stream") == "single-stream"]
    chosen: dict[str, dict] = {}
    points = operating_points(rows)
    for device in dict.fromkeys(r["device"] for r in points):
        mine = [r for r in points if r["device"] == device and r.get("p50_ms")]
        reference = max((r[key] for r in mine if r["precision"] == "fp32" and r.get(key) is not None), default=None)
        if reference is None:
            candidates, reason = mine, f"fastest measured (no FP32 accuracy ({label}) to hold the others to)"
        else:
            candidates = [r for r in mine if r.get(key) is not None and 100 * (reference - r[key]) <= budget + 1e-9]
            reason = f"fastest within {budget:g} {label} points of FP32 ({100 * reference:.2f}%)"
        if not candidates:
            continue
        fastest = min(candidates, key=lambda r: (r["p50_ms"], r["engine"], r["precision"]))
        best, ties = _settle_ties(fastest, candidates, key)
        if ties:
            reason += (f"; {_label(fastest)} is fastest but ties with " + ", ".join(
                f"{_label(r)} ({ratio.describe()})" for r, ratio in ties) + " on speed: "
                + ("it is" if best is fastest else f"{_label(best)} is") + " the more accurate or smaller")
        chosen[device] = {"engine": best["engine"], "precision": best["precision"], "artifact": best.get("artifact"),
                          "batch": best["batch"], "p50_ms": best["p50_ms"], "metric": key, "score": best.get(key),
                          "reference": reference, "max_drop": budget, "reason": reason,
                          "fastest": _label(fastest), "ties": [_label(r) for r, _ in ties],
                          **({"top1": best.get(key), "reference_top1": reference} if key == "top1" else {})}
    return chosen


def _qualifying(mine: list[dict], budget: float, key: str, label: str, what: str) -> tuple[list[dict], str]:
    reference = max((r[key] for r in mine if r["precision"] == "fp32" and r.get(key) is not None), default=None)
    if reference is None:
        return mine, f"{what} measured (no FP32 accuracy ({label}) to hold the others to)"
    return ([r for r in mine if r.get(key) is not None and 100 * (reference - r[key]) <= budget + 1e-9],
            f"{what} within {budget:g} {label} points of FP32 ({100 * reference:.2f}%)")


def _highest_throughput(rows: list[dict], budget: float, key: str, label: str) -> dict[str, dict]:
    chosen: dict[str, dict] = {}
    for device in dict.fromkeys(r["device"] for r in rows):
        mine = [r for r in rows if r["device"] == device and r.get("throughput")]
        candidates, reason = _qualifying(mine, budget, key, label, "highest throughput")
        if not candidates:
            continue
        best = max(candidates, key=lambda r: (r["throughput"], -(r.get("file_size_mib") or 0.0)))
        reference = max((r[key] for r in mine if r["precision"] == "fp32" and r.get(key) is not None), default=None)
        chosen[device] = {"engine": best["engine"], "precision": best["precision"], "artifact": best.get("artifact"),
                          "batch": best["batch"], "p50_ms": best["p50_ms"], "throughput": best["throughput"],
                          "scenario": best.get("scenario", "single-stream"), "streams": best.get("streams", "1"),
                          "objective": "throughput", "metric": key, "score": best.get(key), "reference": reference,
                          "max_drop": budget, "reason": reason, "fastest": _label(best), "ties": [],
                          **({"top1": best.get(key), "reference_top1": reference} if key == "top1" else {})}
    return chosen


def _label(row: dict) -> str:
    return f"{row.get('artifact') or row['model']} on {row['engine']} {row['precision']}"


def _settle_ties(fastest: dict, candidates: list[dict], key: str):
    """(the pick, [(row, its ratio to the fastest)] for each candidate the rounds cannot tell from the fastest)."""
    mine = fastest.get("rounds_p50_ms") or []
    ties = []
    for row in candidates:
        theirs = row.get("rounds_p50_ms") or []
        if row is fastest or not mine or not theirs:
            continue
        ratio = paired_ratio(theirs, mine)
        if ratio.tie:
            ties.append((row, ratio))
    if not ties:
        return fastest, []
    group = [fastest] + [r for r, _ in ties]
    best = min(group, key=lambda r: (-(r.get(key) or 0.0), r.get("file_size_mib") or float("inf"), r["p50_ms"]))
    return best, ties



def best_lines(best: dict[str, dict]) -> list[str]:
    lines = []
    for device, b in best.items():
        metric = b.get("metric", "top1")
        score = b.get("score", b.get("top1"))
        top1 = f", {headline_label(metric)} {100 * score:.2f}%" if score is not None else ""
        if b.get("objective") == "throughput":
            streams = f", {b['streams']} streams" if b.get("scenario") == "offline" else ""
            lines.append(f"Best on {device} for throughput: {b['engine']} {b['precision']} ({b['artifact']}), "
                         f"{b['throughput']:.1f} images/s {b['scenario']} at batch {b['batch']}{streams}{top1}: "
                         f"{b['reason']}.")
            continue
        lines.append(f"Best on {device}: {b['engine']} {b['precision']} ({b['artifact']}), p50 {b['p50_ms']:.3f} ms at "
                     f"batch {b['batch']}{top1}: {b['reason']}.")
    return lines
