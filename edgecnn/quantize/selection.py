"""Which nodes to quantize for speed on a CPU, decided from the graph.

Measured here (EfficientNet-B0, ONNX Runtime 1.31, 2 threads, AVX512-VNNI):
in FP32, ONNX Runtime fuses SiLU (``x * sigmoid(x)``) into one QuickGelu
kernel; in QDQ form SiLU becomes QLinearSigmoid + QLinearMul, two full passes
that took 46 % of the INT8 model's time, while INT8 depthwise/pointwise
convolutions gained little on the large, thin feature maps of the early stages.
Quantizing everything made INT8 up to 1.26x *slower* than FP32; quantizing only
convolutions (SiLU in float, Q/DQ around every one) 1.6x slower.

The rule that won: in networks with SiLU, keep the high-resolution part (feature
maps larger than the input / 16 on each side: strides 2-8, where the per-element
SiLU cost dominates) in float and quantize the stride-16/32 part, where 1x1
convolutions over many channels dominate. Where the float part ends matters as
much: the single Q/DQ boundary must sit on a narrow tensor (a block's output,
after its projection convolution), not inside a block on the 6x-expanded
tensor. The float prefix therefore runs on to the first point where one tensor
alone carries the computation forward (a cut of the graph) and that tensor is
small enough. Cutting inside a block measured 1.31x FP32; at the block output
0.77x. Networks without SiLU (ResNet, MobileNet V2 with ReLU/ReLU6 folded into
the quantization ranges) are quantized whole.
"""

from __future__ import annotations

import onnx
from onnx import shape_inference

HIGH_RES_STRIDE = 16


def silu_pairs(model: onnx.ModelProto) -> list[tuple[str, str]]:
    """(Sigmoid node, Mul node) names of every ``x * sigmoid(x)``."""
    producers = {out: node for node in model.graph.node for out in node.output}
    pairs = []
    for node in model.graph.node:
        if node.op_type != "Mul" or len(node.input) != 2:
            continue
        for x, s in (node.input, node.input[::-1]):
            sigmoid = producers.get(s)
            if sigmoid is not None and sigmoid.op_type == "Sigmoid" and sigmoid.input[0] == x:
                pairs.append((sigmoid.name, node.name))
                break
    return pairs


def _shapes(model: onnx.ModelProto) -> dict[str, list]:
    inferred = shape_inference.infer_shapes(model)
    shapes = {}
    for value in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        dims = [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]
        shapes[value.name] = dims
    return shapes


def _area_limit(model: onnx.ModelProto, shapes: dict, stride: int) -> float | None:
    initializers = {i.name for i in model.graph.initializer}
    image = next((shapes.get(i.name) for i in model.graph.input if i.name not in initializers), None)
    if not image or len(image) != 4 or not image[2] or not image[3]:
        return None
    return (image[2] / stride) * (image[3] / stride)


def _area(shape) -> int | None:
    return shape[2] * shape[3] if shape and len(shape) == 4 and shape[2] and shape[3] else None


def high_resolution_nodes(model: onnx.ModelProto, stride: int = HIGH_RES_STRIDE) -> list[str]:
    """Nodes whose 4-D output map is larger than (input height / stride) x (input width / stride)."""
    shapes = _shapes(model)
    limit = _area_limit(model, shapes, stride)
    if limit is None:
        return []
    return [n.name for n in model.graph.node if n.output and (_area(shapes.get(n.output[0])) or 0) > limit]


def float_prefix(model: onnx.ModelProto, stride: int = HIGH_RES_STRIDE, window: int = 40) -> list[str]:
    """The float part: the nodes up to the narrowest single-tensor cut within ``window`` nodes after
    the last high-resolution node (the block output after its projection, not the expanded tensor)."""
    shapes = _shapes(model)
    limit = _area_limit(model, shapes, stride)
    if limit is None:
        return []
    nodes = list(model.graph.node)
    high = [i for i, n in enumerate(nodes) if n.output and (_area(shapes.get(n.output[0])) or 0) > limit]
    if not high:
        return []
    last_use: dict[str, int] = {}
    for i, node in enumerate(nodes):
        for name in node.input:
            last_use[name] = i
    for output in model.graph.output:
        last_use[output.name] = len(nodes)
    produced: list[str] = []
    best: tuple[int, int] | None = None  # (elements, index)
    for i, node in enumerate(nodes):
        produced += [o for o in node.output if o]
        if i < high[-1]:
            continue
        if i > high[-1] + window:
            break
        live = [t for t in produced if last_use.get(t, -1) > i]
        shape = shapes.get(live[0]) if len(live) == 1 else None
        if shape and (_area(shape) or limit + 1) <= limit and all(shape[1:]):
            elements = shape[1] * shape[2] * shape[3]
            if best is None or elements < best[0]:
                best = (elements, i)
    end = best[1] if best else high[-1]
    return [n.name for n in nodes[: end + 1]]


def speed_aware_exclusions(model: onnx.ModelProto) -> tuple[list[str], str | None]:
    """Nodes to keep in float for CPU speed, and why (None when the whole network should be quantized)."""
    pairs = silu_pairs(model)
    if not pairs:
        return [], None
    names = float_prefix(model)
    if not names:
        return [], None
    return names, (f"{len(pairs)} SiLU activations: {len(names)} nodes on feature maps above stride "
                   f"{HIGH_RES_STRIDE} kept in float (quantized SiLU is two passes on CPU; see --no-speed-aware)")
