"""Pick for me: the fastest operating point within the accuracy budget, per device."""

from __future__ import annotations

from edgecnn.report.best import best_lines, pick_best


def _row(device, engine, precision, p50, top1, batch=1):
    return {"device": device, "engine": engine, "precision": precision, "batch": batch, "p50_ms": p50, "top1": top1,
            "artifact": f"model_{precision}.onnx"}


ROWS = [_row("pc", "ort", "fp32", 3.0, 0.90), _row("pc", "ort", "int8", 1.0, 0.885), _row("pc", "openvino", "int8", 0.8, 0.85),
        _row("pc", "ort", "int8", 0.1, 0.10, batch=8),  # a larger batch is not what one request sees
        _row("pi", "ort", "fp32", 30.0, 0.90), _row("pi", "ort", "int8", 12.0, 0.80)]


def test_fastest_within_the_budget_per_device():
    best = pick_best(ROWS, max_drop=2.0)
    assert (best["pc"]["engine"], best["pc"]["precision"], best["pc"]["p50_ms"]) == ("ort", "int8", 1.0)
    assert best["pi"]["precision"] == "fp32"  # INT8 loses 10 points there
    assert pick_best(ROWS, max_drop=5.0)["pc"]["engine"] == "openvino"  # a looser budget lets the 5-point drop in
    assert pick_best(ROWS)["pc"]["precision"] == "fp32"  # the default budget, 1 point, holds INT8's 1.5 out
    assert "within 2 top-1 points of FP32 (90.00%)" in best_lines(best)[0]


def test_without_accuracy_the_fastest_is_named_as_such():
    rows = [dict(r, top1=None) for r in ROWS if r["device"] == "pc"]
    best = pick_best(rows)
    assert best["pc"]["p50_ms"] == 0.8 and "no FP32 accuracy" in best["pc"]["reason"]
