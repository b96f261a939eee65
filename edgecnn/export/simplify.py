"""Graph simplification with onnxsim (constant folding, shape inference, dead-node removal)."""

from __future__ import annotations

import onnx

from ..errors import ExportError


def count_nodes(model: onnx.ModelProto) -> int:
    return len(model.graph.node)


def simplify(model: onnx.ModelProto) -> onnx.ModelProto:
    """Simplify ``model``; onnxsim checks the result against the input on random data."""
    import onnxsim

    try:
        simplified, ok = onnxsim.simplify(model)
    except Exception as exc:  # onnxsim raises plain RuntimeError/ValueError from C++
        raise ExportError(f"onnxsim could not simplify the graph: {exc}; retry with --no-simplify") from None
    if not ok:
        raise ExportError("onnxsim's check of the simplified graph failed; retry with --no-simplify")
    return simplified
