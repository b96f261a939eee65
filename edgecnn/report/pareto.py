"""Pareto front of accuracy vs latency: the points no other point beats on both."""

from __future__ import annotations


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated points, lowest latency first.

    ``points`` are (latency, accuracy): lower latency and higher accuracy are
    better. A point is dominated when another is at least as fast and at least as
    accurate, and strictly better in one of the two.
    """
    front = []
    for i, (lat_i, acc_i) in enumerate(points):
        dominated = any(lat_j <= lat_i and acc_j >= acc_i and (lat_j < lat_i or acc_j > acc_i)
                        for j, (lat_j, acc_j) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], -points[i][1]))


def operating_points(rows: list[dict]) -> list[dict]:
    """One row per device x engine x precision x artifact: the smallest batch measured (the latency a single
    request sees). Two INT8 files (one placed for ONNX Runtime, one for OpenVINO) are two points."""
    best: dict[tuple, dict] = {}
    for row in rows:
        key = (row["device"], row["engine"], row["precision"], row.get("artifact"))
        if key not in best or row["batch"] < best[key]["batch"]:
            best[key] = row
    return list(best.values())
