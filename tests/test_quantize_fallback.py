"""Activations too narrow for a histogram keep min/max ranges; the rest keep the histogram method asked for."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgecnn.export import read_metadata
from edgecnn.quantize.int8 import QuantizeOptions, quantize_int8

CALIB = "synthetic:shapes:40"
BARE = {"mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25), "input_size": (8, 8)}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECNN_CALIB_CACHE", str(tmp_path / "calib-cache"))


@pytest.fixture
def degenerate(tmp_path):
    """A conv net with two activations that span almost nothing on any data: ``near_one`` = 1 + 1e-6 * feat
    (a few float32 steps wide: no 2048-bin percentile histogram) and ``faint`` = 1e-44 * feat (subnormal:
    no histogram of any bin count)."""
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(np.asarray(a, dtype=np.float32), name) for name, a in (
        ("w1", rng.random((4, 3, 3, 3))), ("b1", np.full(4, 3.0)), ("w2", rng.random((4, 4, 3, 3)) - 0.5),
        ("small", 1e-6), ("one", 1.0), ("subnormal", 1e-44))]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["feat"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Mul", ["feat", "small"], ["tiny"], name="shrink"),
             helper.make_node("Add", ["tiny", "one"], ["near_one"], name="near_one_add"),
             helper.make_node("Mul", ["feat", "near_one"], ["scaled"], name="scale"),
             helper.make_node("Mul", ["feat", "subnormal"], ["faint"], name="fade"),
             helper.make_node("Add", ["scaled", "faint"], ["mixed"], name="mix"),
             helper.make_node("Conv", ["mixed", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
             helper.make_node("GlobalAveragePool", ["c2"], ["p"], name="pool"),
             helper.make_node("Flatten", ["p"], ["y"], name="flat")]
    graph = helper.make_graph(nodes, "degenerate", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "degenerate.onnx"
    onnx.save(model, str(path))
    return path


def _qparams(path) -> dict[str, tuple[float, int]]:
    """Each quantized activation's (scale, zero point) in a QDQ file."""
    model = onnx.load(str(path))
    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return {n.input[0]: (float(values[n.input[1]]), int(values[n.input[2]]))
            for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] not in values}


def test_default_method_falls_back_to_minmax_for_exactly_the_degenerate_tensors(degenerate, tmp_path):
    options = QuantizeOptions(samples=16)  # the default method: percentile
    report = quantize_int8(degenerate, tmp_path / "p.onnx", CALIB, options=options, progress=False, **BARE)
    assert report.method == "percentile" and report.minmax_fallback == ["faint", "near_one"]
    info = json.loads(read_metadata(str(tmp_path / "p.onnx")).extra["quantization"])
    assert info["method"] == "percentile" and info["minmax_fallback"] == ["faint", "near_one"]
    assert report.agreement["cosine"] > 0.99

    minmax = quantize_int8(degenerate, tmp_path / "m.onnx", CALIB, options=QuantizeOptions(samples=16, method="minmax"),
                           progress=False, **BARE)
    assert minmax.minmax_fallback == []
    percentile, plain = _qparams(tmp_path / "p.onnx"), _qparams(tmp_path / "m.onnx")
    assert {"x", "feat", "near_one", "faint"} <= set(percentile)
    for name in ("near_one", "faint"):  # the fallback: exactly the ranges --method minmax gives them
        assert percentile[name] == plain[name]
    for name in ("x", "feat"):  # the rest: percentile's clipped ranges, narrower than min/max
        assert percentile[name][0] < plain[name][0]

    again = quantize_int8(degenerate, tmp_path / "p2.onnx", CALIB, options=options, progress=False, **BARE)
    assert again.ranges_from_cache and again.minmax_fallback == report.minmax_fallback  # the cache keeps it


def test_entropy_falls_back_only_where_its_histogram_fails(degenerate, tmp_path):
    report = quantize_int8(degenerate, tmp_path / "e.onnx", CALIB, options=QuantizeOptions(samples=16, method="entropy"),
                           progress=False, **BARE)
    assert report.minmax_fallback == ["faint"]  # near_one's 128 bins over [-1, 1] are wide enough


def test_cli_says_how_many_tensors_took_minmax(cli, degenerate, tmp_path):
    result = cli("quantize", degenerate, "-o", tmp_path / "q.onnx", "--calib", CALIB, "--samples", "16",
                 "--mean", "0.5,0.5,0.5", "--std", "0.25,0.25,0.25", "--input-size", "8", "--no-speed")
    assert result.exit_code == 0, result.output
    assert "min/max for 2 activations too narrow for a histogram" in result.stdout
