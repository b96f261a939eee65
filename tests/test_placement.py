"""INT8 placed per engine: ONNX Runtime's quantizer for ort, NNCF for openvino, symmetric Q/DQ for trt."""

from __future__ import annotations

import json

import onnx
import pytest
import yaml

from edgecnn.core.metadata import read_metadata
from edgecnn.quantize import QuantizeOptions, quantize_int8, quantize_placed


@pytest.fixture(scope="module")
def fp32(tmp_path_factory):
    import os

    from edgecnn.export import export_onnx
    from edgecnn.zoo import create_model

    root = tmp_path_factory.mktemp("placement")
    os.environ.setdefault("EDGECNN_CALIB_CACHE", str(root / "cache"))
    export_onnx(create_model("mobilenet_v1_025", input_size=32), root / "fp32.onnx", batch="dynamic")
    return root / "fp32.onnx"


def _zero_point_types(path) -> set[int]:
    model = onnx.load(str(path))
    initializers = {i.name: i.data_type for i in model.graph.initializer}
    return {initializers[n.input[2]] for n in model.graph.node if n.op_type == "QuantizeLinear" and len(n.input) > 2}


def test_for_openvino_uses_nncf_and_openvino_runs_it(fp32, tmp_path):
    from edgecnn.engines import load_runner

    report = quantize_placed(fp32, tmp_path / "ov.onnx", "synthetic:shapes:32", progress=False,
                             options=QuantizeOptions(samples=16, placed_for="openvino"))
    assert report.method == "nncf" and report.quantized_nodes > 0
    assert report.agreement["cosine"] >= 0.99  # measured 0.99998 on this model; a wrong placement falls far below
    assert report.engine_agreement["openvino"]["cosine"] >= 0.99 and report.placement_note is None
    info = json.loads(read_metadata(tmp_path / "ov.onnx").extra["quantization"])
    assert info["placed_for"] == "openvino" and info["backend"].startswith("nncf ")
    assert read_metadata(tmp_path / "ov.onnx").extra["precision"] == "int8"
    with load_runner(str(tmp_path / "ov.onnx"), "openvino", precision="int8") as runner:
        assert runner.infer_array(__import__("numpy").zeros((2, 3, 32, 32), "float32")).shape[0] == 2


def test_for_trt_is_symmetric_and_for_ort_is_uint8(fp32, tmp_path):
    quantize_int8(fp32, tmp_path / "trt.onnx", "synthetic:shapes:32", progress=False,
                  options=QuantizeOptions(samples=16, placed_for="trt", method="minmax"))
    quantize_int8(fp32, tmp_path / "ort.onnx", "synthetic:shapes:32", progress=False,
                  options=QuantizeOptions(samples=16, method="minmax"))
    assert _zero_point_types(tmp_path / "trt.onnx") == {onnx.TensorProto.INT8}
    assert onnx.TensorProto.UINT8 in _zero_point_types(tmp_path / "ort.onnx")


def test_recipes_give_openvino_its_own_placement_unless_a_budget_is_set(tmp_path):
    from edgecnn.recipe import load_recipe
    from edgecnn.recipe.pipeline import artifact_for, plan

    spec = {"model": {"arch": "mobilenet_v1_025"}, "data": {"path": "synthetic:shapes:32"},
            "targets": [{"engine": "ort", "precisions": ["int8"]}, {"engine": "openvino", "precisions": ["int8"]}]}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(spec))
    recipe = load_recipe(path)
    stages = {s.name: s for s in plan(recipe)}
    assert stages["quantize-int8-openvino"].settings["options"]["placed_for"] == "openvino"
    assert stages["profile-openvino-int8"].needs[0] == "artifacts/model_int8_openvino.onnx"
    assert stages["profile-ort-int8"].needs[0] == "artifacts/model_int8.onnx"
    budget = load_recipe(path, ["quantize.max_drop=1.0"])
    stages = {s.name: s for s in plan(budget)}
    assert "quantize-int8-openvino" not in stages
    assert artifact_for(budget, "openvino", "int8") == "artifacts/model_int8.onnx"


def test_openvino_unfaithful_compares_openvinos_run_with_onnx_runtimes():
    from edgecnn.quantize.nncf_backend import openvino_unfaithful

    ort = {"cosine": 0.995, "top1_agreement": 0.98}
    assert openvino_unfaithful(ort, {"cosine": 0.99, "top1_agreement": 0.97}) is None  # within the tolerance
    why = openvino_unfaithful(ort, {"cosine": 0.76, "top1_agreement": 0.69})  # the U-Net on a Zen 1 CPU
    assert why.startswith("OpenVINO runs it with top-1 agreement 0.690") and "0.980" in why
    assert "cosine 0.900" in openvino_unfaithful(ort, {"cosine": 0.90})  # an embedding: no top-1 to compare
    assert openvino_unfaithful(ort, {}) is None


def test_when_openvino_cannot_run_nncfs_file_the_ort_placement_is_used(fp32, tmp_path, monkeypatch):
    from edgecnn.quantize import nncf_backend

    monkeypatch.setattr(nncf_backend, "UNFAITHFUL_TOLERANCE", -2.0)  # every run "falls behind": take the other path
    lines = []
    report = quantize_placed(fp32, tmp_path / "ov.onnx", "synthetic:shapes:32", progress=False, log=lines.append,
                             options=QuantizeOptions(samples=16, placed_for="openvino"))
    assert report.method != "nncf" and report.placement_note.startswith("NNCF's placement not used: OpenVINO runs")
    assert any("ONNX Runtime's placement instead" in line for line in lines)
    assert report.engine_agreement["openvino"]["cosine"] >= 0.99  # the fallback file, run by OpenVINO
    info = json.loads(read_metadata(tmp_path / "ov.onnx").extra["quantization"])
    assert "backend" not in info or not info["backend"].startswith("nncf")
