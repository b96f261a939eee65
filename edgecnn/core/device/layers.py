"""Per-layer times, the same on the host and on the device: ONNX Runtime's profiler trace and ExecuTorch's ETDump
events read into rows, and the rows ranked (the slowest layers, then the op types that take the most time)."""

from __future__ import annotations

import re

# ExecuTorch's own frames around the operators (the delegate call, the method): left out, so rows add up
ETDUMP_FRAMES = frozenset({"DELEGATE_CALL", "OPERATOR_CALL", "Method::execute", "Method::init", "Program::load_method"})


def ort_node_times(events: list[dict]) -> list[dict]:
    """ONNX Runtime's profile trace (``enable_profiling``'s JSON) as ``{name, op, total_us, calls}`` per node,
    from its ``*_kernel_time`` events."""
    totals: dict[str, dict] = {}
    for event in events:
        if event.get("cat") != "Node" or not str(event.get("name", "")).endswith("_kernel_time"):
            continue
        name = event["name"][: -len("_kernel_time")]
        entry = totals.setdefault(name, {"name": name, "op": event.get("args", {}).get("op_name", "?"),
                                         "total_us": 0.0, "calls": 0})
        entry["total_us"] += float(event.get("dur", 0))
        entry["calls"] += 1
    return list(totals.values())


def etdump_rows(frame) -> list[dict]:
    """ExecuTorch's Inspector events (``Inspector(etdump_path=...).to_dataframe()``: ``event_name``,
    ``event_block_name``, ``raw`` milliseconds per run) as ``{name, op, total_us, calls}`` per XNNPACK operator
    (``"Convolution (NHWC, F32) IGEMM #3"``, op without the ``#k``)."""
    rows = []
    for event in frame.itertuples():
        name = str(event.event_name)
        if name in ETDUMP_FRAMES or str(event.event_block_name) != "Execute":
            continue
        raw = [float(t) for t in event.raw]  # milliseconds, one per run
        rows.append({"name": name, "op": re.sub(r"\s*#\d+$", "", name), "total_us": 1000 * sum(raw),
                     "calls": len(raw)})
    return rows


def rank_layers(rows: list[dict], top: int) -> list[dict]:
    """The ``top`` slowest of ``rows`` with their mean ms per call and share of the total, then the five op types
    that take the most time (``[all Conv]``)."""
    grand = sum(r["total_us"] for r in rows) or 1.0
    for r in rows:
        r["mean_ms"] = r["total_us"] / max(1, r["calls"]) / 1000
        r["share"] = r["total_us"] / grand
    ranked = sorted(rows, key=lambda r: -r["total_us"])
    by_op: dict[str, float] = {}
    for r in rows:
        by_op[r["op"]] = by_op.get(r["op"], 0.0) + r["total_us"]
    ops = [{"name": f"[all {op}]", "op": op, "total_us": us, "calls": 0, "mean_ms": 0.0, "share": us / grand}
           for op, us in sorted(by_op.items(), key=lambda kv: -kv[1])[:5]]
    return ranked[:top] + ops
