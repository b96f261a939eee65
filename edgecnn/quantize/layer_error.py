"""Which layer broke INT8? Per quantized tensor: how much its own Q/DQ loses, how far the INT8 model's tensor
has drifted from the FP32 model's, and each quantized weight's error; ranked, as JSON, a table and a plot.

The matching of the two models' intermediate tensors by name is ONNX Runtime's ``qdq_loss_debug``
(``create_activation_matching``): ``activation_sqnr_db`` is the signal-to-quantization-noise ratio of the
tensor's own Q/DQ in the INT8 model (what this layer's scale costs), ``model_sqnr_db`` that of the INT8
model's tensor against the FP32 model's (the error accumulated up to here). Low dB = large error. Where
ONNX Runtime's quantizer removed a Relu (its Q range clips at zero instead), the tensor before Q is compared
rectified: otherwise the Relu itself would count as quantization error.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from ..figures import pyplot, save_figure
from ..core.onnx_io import load_onnx
from ..fileio import atomic_path
from .calibration import ArrayDataReader, load_calibration_set
from .int8 import graph_inputs, input_chw, resolve_preprocess


def activation_matching(float_path: str, qdq_path: str, inputs: np.ndarray, samples: int = 16) -> dict[str, dict]:
    """Per quantized activation: its values before Q and after DQ in the INT8 model, and in the float model
    (``pre_qdq``, ``post_qdq``, ``float``: lists of arrays), matched by name by ONNX Runtime's qdq_loss_debug."""
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations,
        create_activation_matching,
        modify_model_output_intermediate_tensors,
    )

    model = load_onnx(float_path, external_data=False)
    names = [i.name for i in graph_inputs(model)]  # a Siamese net: both inputs see the same images
    batch = input_chw(model)[0]
    step = batch if isinstance(batch, int) and batch > 0 else 1
    with tempfile.TemporaryDirectory(prefix="edgecnn-sens-") as tmp:
        float_aug, qdq_aug = str(Path(tmp) / "f.onnx"), str(Path(tmp) / "q.onnx")
        modify_model_output_intermediate_tensors(str(float_path), float_aug)
        modify_model_output_intermediate_tensors(str(qdq_path), qdq_aug)
        reader = ArrayDataReader(inputs[: max(step, samples - samples % step)], names, batch_size=step)
        providers = ["CPUExecutionProvider"]
        float_acts = collect_activations(float_aug, reader, execution_providers=providers)
        reader.rewind()
        qdq_acts = collect_activations(qdq_aug, reader, execution_providers=providers)
    return create_activation_matching(qdq_acts, float_acts)


def _sqnr_db(reference: np.ndarray, approx: np.ndarray) -> float:
    noise = float(np.sum((reference - approx) ** 2))
    signal = float(np.sum(reference**2))
    if noise == 0:
        return math.inf
    return 10 * math.log10(signal / noise) if signal > 0 else -math.inf


def _producers(model: onnx.ModelProto) -> dict[str, tuple[int, str, str]]:
    """tensor -> (depth, op type, node name) of the float node that writes it."""
    out = {}
    for depth, node in enumerate(n for n in model.graph.node if n.op_type not in ("QuantizeLinear", "DequantizeLinear")):
        for tensor in node.output:
            out[tensor] = (depth, node.op_type, node.name)
    return out


def weight_errors(float_model: onnx.ModelProto, qdq_model: onnx.ModelProto) -> dict[str, float]:
    """SQNR (dB) of each quantized weight against the FP32 model's, keyed by the FP32 weight's name."""
    floats = {i.name: numpy_helper.to_array(i) for i in float_model.graph.initializer}
    inits = {i.name: numpy_helper.to_array(i) for i in qdq_model.graph.initializer}
    errors = {}
    for node in qdq_model.graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in inits:
            continue
        original = node.input[0].removesuffix("_quantized")
        if original not in floats or len(node.input) < 2 or node.input[1] not in inits:
            continue
        q = inits[node.input[0]].astype(np.float64)
        scale = inits[node.input[1]].astype(np.float64)
        zero = inits[node.input[2]].astype(np.float64) if len(node.input) > 2 and node.input[2] in inits else 0.0
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if np.ndim(scale) == 1 and q.ndim > 1:
            shape = [1] * q.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), np.reshape(zero, shape) if np.ndim(zero) == 1 else zero
        errors[original] = _sqnr_db(floats[original].astype(np.float64), (q - zero) * scale)
    return errors


def layer_errors(float_path: str | os.PathLike, qdq_path: str | os.PathLike, inputs: np.ndarray,
                 samples: int = 16) -> list[dict]:
    """One row per quantized activation, worst (lowest activation SQNR) first."""
    float_model = load_onnx(float_path, external_data=False)
    qdq_model = load_onnx(qdq_path, external_data=False)
    producers = _producers(float_model)
    consumers: dict[str, list[str]] = {}
    for node in float_model.graph.node:
        for tensor in node.input:
            consumers.setdefault(tensor, []).append(node.name)
    weights = weight_errors(float_model, qdq_model)
    node_weights = {node.name: [weights[i] for i in node.input if i in weights] for node in float_model.graph.node}
    qdq_producers = {t: n.op_type for n in qdq_model.graph.node for t in n.output}
    writer = {t: n.name for n in float_model.graph.node for t in n.output}
    inputs_of = {n.name: list(n.input) for n in float_model.graph.node}
    rows = []
    for tensor, match in activation_matching(str(float_path), str(qdq_path), inputs, samples).items():
        depth, op, node = producers.get(tensor, (-1, "input", ""))
        pre, post = list(match["pre_qdq"]), list(match["post_qdq"])
        if op == "Relu" and qdq_producers.get(tensor) != "Relu":
            # ONNX Runtime's quantizer removed this Relu (the Q's range clips at zero instead): the tensor before
            # Q is the Relu's input, so compare its rectified values, or the Relu itself would count as error
            pre = [np.maximum(p, 0) for p in pre]
        reference = list(match.get("float") or [])
        model_db = _sqnr_db(np.concatenate([r.ravel() for r in reference]),
                            np.concatenate([q.ravel() for q in post])) if reference else math.nan
        # the weights that made this tensor: its node's, or (after an activation) those of the node feeding it
        feeding = writer.get(next(iter(inputs_of.get(node, [])), ""), "")
        weight_db = node_weights.get(node) or node_weights.get(feeding) or []
        rows.append({"tensor": tensor, "op": op, "node": node, "depth": depth,
                     "activation_sqnr_db": _sqnr_db(np.concatenate([a.ravel() for a in pre]),
                                                    np.concatenate([q.ravel() for q in post])),
                     "model_sqnr_db": model_db, "relative_error": 10 ** (-model_db / 20),
                     "weight_sqnr_db": min(weight_db) if weight_db else None, "consumers": consumers.get(tensor, [])})
    finite = [r for r in rows if math.isfinite(r["activation_sqnr_db"])]
    return sorted(finite, key=lambda r: r["activation_sqnr_db"]) + [r for r in rows if r not in finite]


def layer_table(rows: list[dict], top: int = 10) -> str:
    from tabulate import tabulate

    def db(value):
        return "-" if value is None or not math.isfinite(value) else f"{value:.1f}"

    body = [[i + 1, r["tensor"], r["op"], r["depth"], db(r["activation_sqnr_db"]), db(r["model_sqnr_db"]),
             f"{100 * r['relative_error']:.2f}" if math.isfinite(r["relative_error"]) else "-", db(r["weight_sqnr_db"])]
            for i, r in enumerate(rows[:top])]
    return tabulate(body, headers=["rank", "tensor", "op", "depth", "act SQNR dB", "vs FP32 dB", "rel err %",
                                   "weight SQNR dB"], disable_numparse=True)


def write_layer_report(rows: list[dict], json_path: str | os.PathLike, label_worst: int = 5) -> tuple[Path, Path]:
    """``json_path`` with every row, and beside it a PNG: SQNR along the network's depth, worst layers named."""
    json_path = Path(json_path)
    with atomic_path(json_path, force=True) as tmp:
        tmp.write_text(json.dumps({"schema": "edgecnn.layer_error", "version": 1, "rows": rows}, indent=1))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.2))
    shown = sorted((r for r in rows if r["depth"] >= 0 and math.isfinite(r["activation_sqnr_db"])),
                   key=lambda r: r["depth"])
    ax.plot([r["depth"] for r in shown], [r["activation_sqnr_db"] for r in shown], "o-", ms=3, label="this tensor's Q/DQ")
    model_db = [(r["depth"], r["model_sqnr_db"]) for r in shown if math.isfinite(r["model_sqnr_db"])]
    if model_db:
        ax.plot(*zip(*model_db), "s--", ms=3, alpha=0.7, label="INT8 model vs FP32 model (accumulated)")
    depths = [r["depth"] for r in shown] or [0]
    right = min(depths) + 0.65 * (max(depths) - min(depths))
    worst = [r for r in rows[:label_worst] if r["depth"] >= 0 and math.isfinite(r["activation_sqnr_db"])]
    for k, r in enumerate(worst):  # short names, staggered, on the free side: the worst layers often sit together
        name = "/".join((r["node"] or r["tensor"]).strip("/").split("/")[-2:])
        left = r["depth"] > right
        ax.annotate(f"#{k + 1} {name}", (r["depth"], r["activation_sqnr_db"]), fontsize=7, color="#b00020",
                    xytext=(-8 if left else 8, 12 + 11 * k), textcoords="offset points", ha="right" if left else "left",
                    arrowprops={"arrowstyle": "-", "color": "#b00020", "lw": 0.5},
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})
    ax.set_xlabel("depth (float node index)")
    ax.set_ylabel("SQNR (dB), higher is better")
    ax.set_title("Per-layer INT8 error")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    png = json_path.with_suffix(".png")
    save_figure(fig, png)
    return json_path, png


def layer_error_report(float_path: str | os.PathLike, qdq_path: str | os.PathLike, images: str,
                       json_path: str | os.PathLike, samples: int = 16, seed: int = 0) -> list[dict]:
    """Per-layer errors of ``qdq_path`` against ``float_path`` on ``samples`` of ``images`` (through the model's own
    preprocessing, the calibration cache), written to ``json_path`` and a PNG beside it; the rows, worst first."""
    model = load_onnx(float_path, external_data=False)
    preprocess, chw, meta = resolve_preprocess(model, str(float_path))
    inputs = load_calibration_set(images, preprocess, chw, samples=samples, seed=seed, progress=False,
                                  task=meta.task if meta else None).inputs
    rows = layer_errors(float_path, qdq_path, inputs, samples=samples)
    write_layer_report(rows, json_path)
    return rows
