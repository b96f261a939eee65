"""Which layer broke INT8: a deliberately damaged layer is ranked first, and the files are written."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgecnn.quantize import QuantizeOptions, quantize_int8
from edgecnn.quantize.layer_error import layer_error_report, layer_errors, layer_table


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    import os

    from edgecnn.export import export_onnx
    from edgecnn.zoo import create_model

    root = tmp_path_factory.mktemp("layers")
    os.environ.setdefault("EDGECNN_CALIB_CACHE", str(root / "cache"))
    export_onnx(create_model("mobilenet_v1_025", input_size=32), root / "fp32.onnx", batch="dynamic")
    quantize_int8(root / "fp32.onnx", root / "int8.onnx", "synthetic:shapes:32", progress=False,
                  options=QuantizeOptions(samples=16, method="minmax"))
    return root


def _damage(source, target, tensor):
    """Force ``tensor``'s activation range far too narrow: its QuantizeLinear scale / 200 (the values clip)."""
    model = onnx.load(str(source))
    quant = next(n for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == tensor)
    scales = {i.name: i for i in model.graph.initializer}
    old = scales[quant.input[1]]
    new = numpy_helper.from_array(numpy_helper.to_array(old) / 200, old.name)
    old.CopyFrom(new)
    onnx.save(model, str(target))


def test_a_damaged_layer_is_ranked_first(models):
    inputs = np.random.default_rng(0).standard_normal((8, 3, 32, 32)).astype(np.float32)
    healthy = layer_errors(models / "fp32.onnx", models / "int8.onnx", inputs, samples=8)
    assert len(healthy) > 10
    # a tensor in the middle of the network, not already the worst
    victim = sorted(healthy, key=lambda r: r["depth"])[len(healthy) // 2]["tensor"]
    assert healthy[0]["tensor"] != victim
    _damage(models / "int8.onnx", models / "damaged.onnx", victim)
    damaged = layer_errors(models / "fp32.onnx", models / "damaged.onnx", inputs, samples=8)
    assert damaged[0]["tensor"] == victim
    worst_healthy = healthy[0]["activation_sqnr_db"]
    assert damaged[0]["activation_sqnr_db"] < worst_healthy - 10  # by a wide margin, not by luck
    assert "rank" in layer_table(damaged) and victim in layer_table(damaged, top=1)


def test_report_files_and_removed_relu_is_not_counted_as_error(models, tmp_path):
    rows = layer_error_report(models / "fp32.onnx", models / "int8.onnx", "synthetic:shapes:32", tmp_path / "le.json",
                              samples=8)
    saved = json.loads((tmp_path / "le.json").read_text())
    assert saved["schema"] == "edgecnn.layer_error" and len(saved["rows"]) == len(rows)
    assert (tmp_path / "le.png").stat().st_size > 10_000
    relus = [r for r in rows if r["op"] == "Relu"]
    assert relus and min(r["activation_sqnr_db"] for r in relus) > 15  # a healthy minmax model: no Relu at ~2 dB
    assert any(r["weight_sqnr_db"] for r in relus)


def test_cli_compare_per_layer_ranks_the_damaged_layer_first(models, cli, tmp_path):
    from conftest import one_line_error

    healthy = layer_errors(models / "fp32.onnx", models / "int8.onnx",
                           np.random.default_rng(0).standard_normal((8, 3, 32, 32)).astype(np.float32), samples=8)
    victim = sorted(healthy, key=lambda r: r["depth"])[len(healthy) // 3]["tensor"]
    _damage(models / "int8.onnx", tmp_path / "damaged.onnx", victim)
    out = tmp_path / "per_layer.json"
    result = cli("compare", models / "fp32.onnx", tmp_path / "damaged.onnx", "--per-layer", "--data",
                 "synthetic:shapes:16", "--samples", "8", "--json", out)
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())["rows"]
    assert rows[0]["tensor"] == victim and out.with_suffix(".png").stat().st_size > 0
    first_row = next(line for line in result.stdout.splitlines() if line.lstrip().startswith("1 "))
    assert victim in first_row
    swapped = cli("compare", tmp_path / "damaged.onnx", models / "fp32.onnx", "--per-layer")
    assert "FP32 model first" in one_line_error(swapped)
