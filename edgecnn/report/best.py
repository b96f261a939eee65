"""Pick for me: per device, the fastest engine x precision x artifact whose accuracy stays within the budget.

Latency is each operating point's p50 at its smallest batch (what one request sees); the reference accuracy
is the best FP32 top-1 measured on that device; a candidate qualifies when its top-1 is at most ``max_drop``
points below it. Without accuracy figures nothing can be said to qualify, and the choice says so.
"""

from __future__ import annotations

from .pareto import operating_points

DEFAULT_MAX_DROP = 1.0  # top-1 points, when the recipe sets no quantize.max_drop


def pick_best(rows: list[dict], max_drop: float | None = None) -> dict[str, dict]:
    """{device: {engine, precision, artifact, batch, p50_ms, top1, reference_top1, max_drop, reason}}."""
    budget = DEFAULT_MAX_DROP if max_drop is None else max_drop
    chosen: dict[str, dict] = {}
    points = operating_points(rows)
    for device in dict.fromkeys(r["device"] for r in points):
        mine = [r for r in points if r["device"] == device and r.get("p50_ms")]
        reference = max((r["top1"] for r in mine if r["precision"] == "fp32" and r.get("top1") is not None),
                        default=None)
        if reference is None:
            candidates, reason = mine, "fastest measured (no FP32 accuracy to hold the others to)"
        else:
            candidates = [r for r in mine if r.get("top1") is not None and 100 * (reference - r["top1"]) <= budget + 1e-9]
            reason = f"fastest within {budget:g} top-1 points of FP32 ({100 * reference:.2f}%)"
        if not candidates:
            continue
        best = min(candidates, key=lambda r: (r["p50_ms"], r["engine"], r["precision"]))
        chosen[device] = {"engine": best["engine"], "precision": best["precision"], "artifact": best.get("artifact"),
                          "batch": best["batch"], "p50_ms": best["p50_ms"], "top1": best.get("top1"),
                          "reference_top1": reference, "max_drop": budget, "reason": reason}
    return chosen


def best_lines(best: dict[str, dict]) -> list[str]:
    lines = []
    for device, b in best.items():
        top1 = f", top-1 {100 * b['top1']:.2f}%" if b.get("top1") is not None else ""
        lines.append(f"Best on {device}: {b['engine']} {b['precision']} ({b['artifact']}), p50 {b['p50_ms']:.3f} ms at "
                     f"batch {b['batch']}{top1}: {b['reason']}.")
    return lines
