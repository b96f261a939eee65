"""Per-node summary of an ONNX file (edgecnn's or a third party's), read from the graph alone.

Shapes and multiply-adds come from onnx-tool (a maintained ONNX profiler: shape inference
for every standard op, a MAC count per node). Its MAC count covers every op and includes
bias additions; the published figures (torchvision's "GFLOPS", the papers' "Mult-Adds") count
only convolutions and fully connected layers without bias, so that total is given too,
computed from the same shapes. Parameters are the graph's initializers, each counted once, at
the first node that reads it, so the rows add up to the exact total. In an exported graph the
BatchNorm layers are folded into the convolutions, so the count differs from the PyTorch
model's by design (``edgecnn summary MODEL`` gives that one).
"""

from __future__ import annotations

import contextlib
import io
import os
from math import prod

import numpy as np
import onnx

from .core.onnx_io import graph_inputs, load_onnx
from .errors import DependencyMissing, EdgeCNNError
from .summary import LayerRow, ModelSummary

# ops whose weight is a parameter in the published sense (Q/DQ scales and zero points are too, and counted)
_MATMUL_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul", "QLinearConv", "QLinearMatMul", "ConvInteger",
               "MatMulInteger"}


class OnnxSummaryError(EdgeCNNError):
    pass


def _fixed_inputs(model: onnx.ModelProto, batch: int = 1) -> dict[str, np.ndarray]:
    """Zero inputs at batch 1 for shape inference; a dynamic dimension other than the batch is refused."""
    feeds = {}
    for value in graph_inputs(model):
        dims = []
        for i, d in enumerate(value.type.tensor_type.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                dims.append(d.dim_value)
            elif i == 0:
                dims.append(batch)
            else:
                raise OnnxSummaryError(f"input {value.name} has a dynamic dimension {i} ({d.dim_param or '?'}); "
                                       "summaries need a fixed image size")
        dtype = onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type)
        feeds[value.name] = np.zeros(dims, dtype=dtype)
    return feeds


def _published_macs(op: str, weight_shape: tuple | None, output_shape: tuple, node: onnx.NodeProto) -> int:
    """Conv / FC multiply-adds without bias: the convention of torchvision's and the papers' figures."""
    if not output_shape or weight_shape is None:
        return 0
    if op in ("Conv", "QLinearConv", "ConvInteger"):
        return prod(output_shape) * prod(weight_shape[1:])
    if op == "ConvTranspose":
        return 0  # counted on the input side in PyTorch's convention; not reconstructed here
    if op in ("Gemm", "MatMul", "QLinearMatMul", "MatMulInteger"):
        transposed = any(a.name == "transB" and a.i for a in node.attribute)
        inner = weight_shape[-1] if transposed else weight_shape[0]
        return prod(output_shape) * inner
    return 0


def summarize_onnx(path: str | os.PathLike) -> ModelSummary:
    model = load_onnx(path)
    feeds = _fixed_inputs(model)
    try:
        import onnx_tool
    except ImportError:

        raise DependencyMissing("onnx-tool", purpose="summaries of ONNX files") from None
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            tool = onnx_tool.Model(model)
            tool.graph.shape_infer(feeds)
            tool.graph.profile()
    except Exception as exc:
        raise OnnxSummaryError(f"onnx-tool could not infer the shapes of {path}: {type(exc).__name__}: "
                               f"{str(exc)[:200]}") from None
    graph = tool.graph
    initializers = {i.name: i for i in model.graph.initializer}
    # Constant nodes holding tensors are weights too (older exporters write them instead of initializers)
    constants = {n.output[0]: n for n in model.graph.node if n.op_type == "Constant" and n.output}
    counted: set[str] = set()
    summary = ModelSummary(model=os.fspath(path), input_shapes=[list(v.shape) for v in feeds.values()])
    published = 0
    for node in model.graph.node:
        if node.op_type == "Constant":
            continue
        tool_node = graph.nodemap.get(node.name) if node.name else None
        params = 0
        weight_shape = None
        for name in node.input:
            if name in initializers:
                dims = tuple(initializers[name].dims)
                weight_shape = weight_shape or (dims if len(dims) >= 2 else None)
                if name not in counted:
                    counted.add(name)
                    params += prod(dims) if dims else 1
        shapes = []
        size = 0
        for name in node.output:
            tensor = graph.tensormap.get(name)
            shape = tuple(int(d) for d in tensor.get_shape()) if tensor is not None else ()
            shapes.append(list(shape))
            if tensor is not None:
                size += prod(shape) * np.dtype(tensor.dtype).itemsize if shape else 0
        macs = int(tool_node.macs[0]) if tool_node is not None else 0
        if node.op_type in _MATMUL_OPS:
            published += _published_macs(node.op_type, weight_shape, tuple(shapes[0]) if shapes else (), node)
        summary.rows.append(LayerRow(name=node.name or node.output[0], type=node.op_type, output_shape=shapes,
                                     params=params, macs=macs, activation_bytes=int(size)))
    summary.total_params = sum(prod(i.dims) if i.dims else 1 for i in initializers.values())
    summary.trainable_params = summary.total_params
    summary.param_bytes = sum(prod(i.dims) * np.dtype(onnx.helper.tensor_dtype_to_np_dtype(i.data_type)).itemsize
                              if i.dims else 1 for i in initializers.values())
    summary.total_macs = sum(r.macs for r in summary.rows)
    summary.activation_bytes = sum(r.activation_bytes for r in summary.rows)
    summary.extra = {"published_macs": published, "constant_nodes": len(constants),
                     "has_batchnorm": any(n.op_type == "BatchNormalization" for n in model.graph.node),
                     "counted_by": f"onnx-tool {getattr(onnx_tool, '__version__', '')}".strip()}
    return summary
