"""Every accuracy difference in a report with its uncertainty: each operating point against its device's
FP32 on the same images (paired: :mod:`edgecnn.core.paired`)."""

from __future__ import annotations

from ..core.paired import describe, paired_difference
from .pareto import operating_points


def accuracy_differences(rows: list[dict]) -> list[dict]:
    """Per device, each non-FP32 operating point with per-image results against that device's FP32 reference
    (the FP32 point of the same engine, else the most accurate FP32 point)."""
    out = []
    points = [r for r in operating_points(rows) if r.get("correct")]
    for device in dict.fromkeys(r["device"] for r in points):
        mine = [r for r in points if r["device"] == device]
        references = [r for r in mine if r["precision"] == "fp32"]
        if not references:
            continue
        for row in mine:
            if row["precision"] == "fp32":
                continue
            same_images = [r for r in references if len(r["correct"]) == len(row["correct"])]
            if not same_images:
                continue
            reference = next((r for r in same_images if r["engine"] == row["engine"]), None) or \
                max(same_images, key=lambda r: r["top1"])
            result = paired_difference([c == "1" for c in reference["correct"]], [c == "1" for c in row["correct"]])
            name = f"{row['engine']} {row['precision']}"
            out.append({"device": device, "engine": row["engine"], "precision": row["precision"], "artifact": name, "reference": f"{reference['engine']} fp32", **result,
                        "line": describe(result, f"{reference['engine']} fp32", name)})
    return out
