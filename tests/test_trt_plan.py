"""TensorRT decisions that need no TensorRT: profiles, flags, op support, Q/DQ placement."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgecnn.engines.trt_plan import (BatchSpec, InputInfo, check_onnx, parse_batch_spec, precision_flags,
                                      shape_profiles)
from edgecnn.errors import UsageError


def test_parse_batch_spec():
    assert parse_batch_spec("1") == BatchSpec(1, 1, 1) and parse_batch_spec("1").fixed
    assert parse_batch_spec("1:8:32") == BatchSpec(1, 8, 32)
    for bad in ("0", "8:1:32", "1:2", "a:b:c"):
        with pytest.raises(UsageError, match="--batch"):
            parse_batch_spec(bad)


def test_shape_profiles():
    dynamic = [InputInfo("input", ("batch", 3, 224, 224))]
    (profile,) = shape_profiles(dynamic, BatchSpec(1, 8, 32))
    assert profile.min == (1, 3, 224, 224) and profile.opt == (8, 3, 224, 224) and profile.max == (32, 3, 224, 224)
    fixed = [InputInfo("input", (1, 3, 224, 224))]
    assert shape_profiles(fixed, BatchSpec(1, 1, 1))[0].max == (1, 3, 224, 224)
    with pytest.raises(UsageError, match="fixed batch of 1; export with --batch dynamic"):
        shape_profiles(fixed, BatchSpec(1, 8, 32))
    with pytest.raises(UsageError, match="dynamic dimension"):
        shape_profiles([InputInfo("input", ("batch", 3, "h", "w"))], BatchSpec(1, 1, 1))


def _model(nodes, initializers, inputs=None, outputs=None):
    graph = helper.make_graph(
        nodes, "g", inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        outputs or [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _qdq_conv(zero_point_type=TensorProto.INT8, weight_axis=0):
    scale = numpy_helper.from_array(np.array(0.02, np.float32), "s")
    zp = helper.make_tensor("zp", zero_point_type, [], [0])
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.int8), "w_q")
    w_scale = numpy_helper.from_array(np.full(4, 0.01, np.float32), "w_s")
    w_zp = numpy_helper.from_array(np.zeros(4, np.int8), "w_zp")
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["xq"], name="q"),
        helper.make_node("DequantizeLinear", ["xq", "s", "zp"], ["xd"], name="dq"),
        helper.make_node("DequantizeLinear", ["w_q", "w_s", "w_zp"], ["wd"], name="wdq", axis=weight_axis),
        helper.make_node("Conv", ["xd", "wd"], ["c"], name="conv"),
        helper.make_node("Sigmoid", ["c"], ["y"], name="sig"),
    ]
    return _model(nodes, [scale, zp, w, w_scale, w_zp])


def test_symmetric_qdq_model_is_accepted():
    check = check_onnx(_qdq_conv())
    assert check.is_qdq and check.ok and not check.qdq_errors
    assert check.dynamic_inputs == ["x dims [0]"]
    assert precision_flags("int8", check) == ["INT8", "FP16"]
    with pytest.raises(UsageError, match="build it with --precision int8"):
        precision_flags("fp32", check)


def test_uint8_and_wrong_axis_are_rejected():
    check = check_onnx(_qdq_conv(zero_point_type=TensorProto.UINT8, weight_axis=1))
    assert not check.ok
    assert any("UINT8" in e and "--symmetric-activations" in e for e in check.qdq_errors)
    assert any("axis 1" in e and "needs axis 0" in e for e in check.qdq_errors)
    with pytest.raises(UsageError, match="TensorRT cannot use this QDQ model"):
        precision_flags("int8", check)


def test_real_ort_quantized_model_needs_symmetric_activations(tmp_path, monkeypatch):
    """ORT's default (UINT8 activations) is refused; --symmetric-activations passes."""
    monkeypatch.setenv("EDGECNN_CALIB_CACHE", str(tmp_path / "cache"))
    from edgecnn.export import export_onnx
    from edgecnn.quantize import QuantizeOptions, quantize_int8
    from edgecnn.zoo import create_model

    export_onnx(create_model("mobilenet_v1_025", input_size=32), tmp_path / "m.onnx")
    quantize_int8(tmp_path / "m.onnx", tmp_path / "u8.onnx", "synthetic:shapes:16", progress=False,
                  options=QuantizeOptions(samples=8))
    quantize_int8(tmp_path / "m.onnx", tmp_path / "s8.onnx", "synthetic:shapes:16", progress=False,
                  options=QuantizeOptions(samples=8, symmetric_activations=True))
    assert not check_onnx(onnx.load(str(tmp_path / "u8.onnx"))).ok
    symmetric = check_onnx(onnx.load(str(tmp_path / "s8.onnx")))
    assert symmetric.ok and symmetric.is_qdq, symmetric.lines()


def test_unsupported_and_custom_ops():
    nodes = [helper.make_node("Unique", ["x"], ["u"], name="uniq"),
             helper.make_node("FusedConv", ["x"], ["y"], name="fc", domain="com.microsoft")]
    check = check_onnx(_model(nodes, []))
    assert check.unsupported_ops == {"Unique": 1} and check.custom_domain_ops == {"com.microsoft:FusedConv": 1}
    assert not check.ok and any("Unique x1" in line for line in check.lines())


def test_int8_without_qdq_needs_a_table():
    check = check_onnx(_model([helper.make_node("Relu", ["x"], ["y"])], []))
    with pytest.raises(UsageError, match="--calib-table"):
        precision_flags("int8", check)
    assert precision_flags("int8", check, calibration_table="t.cache") == ["INT8", "FP16"]
    assert precision_flags("fp16", check) == ["FP16"] and precision_flags("fp32", check) == []


@pytest.mark.gpu
def test_build_and_run_tensorrt_engine(tmp_path):
    """Needs TensorRT and an NVIDIA GPU: builds FP16 and compares with ONNX Runtime."""
    from edgecnn.engines.trt_engine import tensorrt_available

    if not tensorrt_available():
        pytest.skip("TensorRT or an NVIDIA GPU is not available")
    from edgecnn.engines.ort_engine import OrtRunner
    from edgecnn.engines.trt_engine import TrtRunner, build_engine
    from edgecnn.export import export_onnx
    from edgecnn.zoo import create_model

    import tensorrt

    from edgecnn.quantize.fp16 import convert_fp16

    export_onnx(create_model("resnet18"), tmp_path / "r.onnx", batch="dynamic")
    source = tmp_path / "r.onnx"
    if int(tensorrt.__version__.split(".")[0]) >= 11:  # strongly typed: FP16 comes from the FP16 ONNX
        convert_fp16(source, tmp_path / "r_fp16.onnx")
        source = tmp_path / "r_fp16.onnx"
    sidecar = build_engine(source, tmp_path / "r.engine", precision="fp16",
                           batch=BatchSpec(1, 4, 8), timing_cache=tmp_path / "timing.cache")
    assert sidecar["profiles"][0]["max"][0] == 8 and (tmp_path / "timing.cache").exists()
    assert sidecar["plan"]["network"] == ("strongly typed" if sidecar["plan"]["trt_major"] >= 11 else "weakly typed")
    ort_runner = OrtRunner(tmp_path / "r.onnx")
    x = np.random.default_rng(0).standard_normal((4, 3, 224, 224)).astype(np.float32)
    with TrtRunner(tmp_path / "r.engine", ort_runner.info) as trt_runner:
        got = trt_runner.infer_array(x)
    reference = ort_runner.infer_array(x)
    assert np.mean(got.argmax(1) == reference.argmax(1)) >= 0.75


@pytest.fixture(scope="module")
def three_precisions(tmp_path_factory):
    """One model as TensorRT would get it: the FP32 export, its FP16 conversion, its symmetric INT8 QDQ."""
    import os

    from edgecnn.export import export_onnx
    from edgecnn.quantize import QuantizeOptions, quantize_int8
    from edgecnn.quantize.fp16 import convert_fp16
    from edgecnn.zoo import create_model

    root = tmp_path_factory.mktemp("trt-plans")
    os.environ.setdefault("EDGECNN_CALIB_CACHE", str(root / "cache"))
    export_onnx(create_model("mobilenet_v1_025", input_size=32), root / "fp32.onnx", batch="dynamic")
    convert_fp16(root / "fp32.onnx", root / "fp16.onnx")
    quantize_int8(root / "fp32.onnx", root / "int8.onnx", "synthetic:shapes:16", progress=False,
                  options=QuantizeOptions(samples=8, symmetric_activations=True))
    quantize_int8(root / "fp32.onnx", root / "u8.onnx", "synthetic:shapes:16", progress=False,
                  options=QuantizeOptions(samples=8))
    (root / "table.calib").write_text("TRT-10000-EntropyCalibration2\n")
    return {name: onnx.load(str(root / f"{name}.onnx")) for name in ("fp32", "fp16", "int8", "u8")} | {
        "root": root}


def test_tensorrt_11_plans_strongly_typed_builds(three_precisions):
    from edgecnn.engines.trt_plan import build_plan

    m = three_precisions
    fp32 = build_plan(m["fp32"], "fp32", 11, batch=BatchSpec(1, 4, 8))
    assert fp32.network == "strongly typed" and fp32.builder_flags == [] and fp32.onnx_holds == "fp32"
    assert fp32.profiles[0].max == (8, 3, 32, 32)
    fp16 = build_plan(m["fp16"], "fp16", 11)
    assert fp16.builder_flags == [] and fp16.onnx_holds == "fp16"  # the FP16 ONNX, not a flag
    int8 = build_plan(m["int8"], "int8", 11)
    assert int8.builder_flags == [] and int8.onnx_holds == "int8" and int8.calibration_table is None
    with pytest.raises(UsageError, match="strongly typed.*holds fp32.*--precision fp16"):
        build_plan(m["fp32"], "fp16", 11)  # no FP16 flag in TensorRT 11
    with pytest.raises(UsageError, match="holds fp32.*--symmetric-activations"):
        build_plan(m["fp32"], "int8", 11)
    with pytest.raises(UsageError, match="TensorRT 11 removed implicit INT8 calibration.*QDQ"):
        build_plan(m["fp32"], "int8", 11, calibration_table=str(m["root"] / "table.calib"))
    with pytest.raises(UsageError, match="UINT8"):
        build_plan(m["u8"], "int8", 11)  # asymmetric activations: TensorRT takes symmetric INT8 only
    assert any("strongly typed" in line for line in fp16.lines())


def test_tensorrt_10_plans_keep_the_weakly_typed_path(three_precisions):
    from edgecnn.engines.trt_plan import build_plan

    m = three_precisions
    assert build_plan(m["fp32"], "fp32", 10).builder_flags == []
    fp16 = build_plan(m["fp32"], "fp16", 10)
    assert fp16.network == "weakly typed" and fp16.builder_flags == ["FP16"] and fp16.onnx_holds == "fp32"
    qdq = build_plan(m["int8"], "int8", 10)
    assert qdq.builder_flags == ["INT8", "FP16"] and qdq.calibration_table is None
    table = build_plan(m["fp32"], "int8", 10, calibration_table=str(m["root"] / "table.calib"))
    assert table.builder_flags == ["INT8", "FP16"] and table.calibration_table.endswith("table.calib")
    assert any("calibration table" in note for note in table.notes)
    with pytest.raises(UsageError, match="INT8 needs a QDQ model .* or --calib-table"):
        build_plan(m["fp32"], "int8", 10)
    with pytest.raises(UsageError, match="builds from the FP32 ONNX"):
        build_plan(m["fp16"], "fp16", 10)


def test_check_prints_the_plan_for_a_chosen_version(three_precisions, cli):
    root = three_precisions["root"]
    eleven = cli("check", root / "fp16.onnx", "--trt-version", "11")
    assert eleven.exit_code == 0, eleven.output
    assert "TensorRT 11: strongly typed network, fp16 from an ONNX that holds fp16" in eleven.stdout
    assert "builder flags: none" in eleven.stdout
    ten = cli("check", root / "fp32.onnx", "--trt-version", "10", "--precision", "fp16", "--batch", "1:4:8")
    assert ten.exit_code == 0, ten.output
    assert "weakly typed" in ten.stdout and "builder flags: FP16" in ten.stdout and "max (8, 3, 32, 32)" in ten.stdout
    refused = cli("check", root / "fp32.onnx", "--trt-version", "11", "--precision", "int8", "--calib-table",
                  root / "table.calib")
    assert refused.exit_code == 2 and "removed implicit INT8 calibration" in refused.stderr


# ---------------------------------------------------------------- TensorRT on a device: built there, planned here
def test_every_precision_and_version_builds_from_the_onnx_its_plan_accepts(three_precisions):
    from edgecnn.engines.trt_plan import build_plan, trt_source

    m = {"fp32": three_precisions["fp32"], "fp16": three_precisions["fp16"], "int8_sym": three_precisions["int8"]}
    assert {(p, v): trt_source(p, v) for p in ("fp32", "fp16", "int8") for v in (10, 11)} == {
        ("fp32", 10): "fp32", ("fp32", 11): "fp32", ("fp16", 10): "fp32", ("fp16", 11): "fp16",
        ("int8", 10): "int8_sym", ("int8", 11): "int8_sym"}
    for precision in ("fp32", "fp16", "int8"):
        for version in (10, 11):  # the chosen ONNX is one the plan takes (no UsageError)
            plan = build_plan(m[trt_source(precision, version)], precision, version)
            assert plan.precision == precision and plan.trt_major == version


def test_a_device_bundle_for_tensorrt_ships_the_onnx_and_its_build_plan(three_precisions, tmp_path):
    import json

    from edgecnn.bundle.builder import build_bundle
    from edgecnn.engines.trt_engine import TRT_REQUIREMENTS
    from edgecnn.engines.trt_plan import build_plan

    source = three_precisions["root"] / "int8.onnx"
    plan = build_plan(three_precisions["int8"], "int8", 10, batch=BatchSpec(1, 1, 4)).to_dict()
    build_bundle(source, tmp_path / "b", engine="trt", device_build=plan)
    config = json.loads((tmp_path / "b" / "preprocess.json").read_text())
    assert config["engine"] == "tensorrt" and config["model"] == "model.onnx" and config["precision"] == "int8"
    assert config["trt_build"]["builder_flags"] == ["INT8", "FP16"] and config["trt_build"]["trt_major"] == 10
    assert config["trt_build"]["profiles"][0]["max"][0] == 4
    assert (tmp_path / "b" / "requirements.txt").read_text().split() == TRT_REQUIREMENTS
    assert "built on the device" in (tmp_path / "b" / "README.md").read_text()


def test_recipe_plans_tensorrt_device_stages_without_tensorrt_here(tmp_path):
    import yaml

    from edgecnn.recipe import load_recipe
    from edgecnn.recipe.pipeline import plan

    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({
        "model": {"arch": "mobilenet_v1_025"}, "data": {"path": "synthetic:shapes:32"}, "export": {"batch": "dynamic"},
        "targets": [{"engine": "ort", "precisions": ["fp32"]}],
        "devices": [{"name": "orin", "host": "orin", "targets": [
            {"engine": "trt", "precisions": ["fp16", "int8"], "batches": [1, 8], "trt_version": 10}]},
            {"name": "thor", "host": "thor", "targets": [{"engine": "trt", "precisions": ["fp16"], "trt_version": 11}]}]}))
    stages = {s.name: s for s in plan(load_recipe(recipe))}
    assert stages["bundle-trt10-fp16"].needs == ("artifacts/model_fp32.onnx",)  # weakly typed: FP16 flag
    assert stages["bundle-trt11-fp16"].needs == ("artifacts/model_fp16.onnx",)  # strongly typed: FP16 ONNX
    assert stages["bundle-trt10-int8"].needs == ("artifacts/model_int8_sym.onnx",)
    assert stages["quantize-int8-symmetric"].check is None  # the device builds from it: no TensorRT needed here
    assert "quantize-int8" not in stages and "quantize-fp16" in stages
    assert stages["bundle-trt10-int8"].settings["build"]["batch"] == "1:1:8"
    assert stages["device-orin-trt-int8"].needs == ("bundles/model_trt10_int8.tar.gz", "artifacts/model_fp32.onnx")
    assert {"device-orin-trt-fp16", "device-thor-trt-fp16"} <= set(stages)


@pytest.mark.gpu
def test_bundle_builds_its_engine_on_the_device(three_precisions, tmp_path):
    """Needs TensorRT and an NVIDIA GPU: infer.py builds the engine from the shipped ONNX and plan, and classifies."""
    from edgecnn.engines.trt_engine import tensorrt_available

    if not tensorrt_available():
        pytest.skip("TensorRT or an NVIDIA GPU is not available")
    import subprocess
    import sys

    import tensorrt

    from edgecnn.bundle.builder import build_bundle
    from edgecnn.engines.trt_plan import build_plan, trt_source

    major = int(tensorrt.__version__.split(".")[0])
    kind = trt_source("fp16", major)
    plan = build_plan(three_precisions[kind], "fp16", major).to_dict()
    build_bundle(three_precisions["root"] / f"{kind}.onnx", tmp_path / "b", engine="trt", device_build=plan)
    done = subprocess.run([sys.executable, "infer.py", "--profile", "--min-runs", "5", "--min-time-s", "0.1",
                           "--results", str(tmp_path / "r.json")], cwd=tmp_path / "b", capture_output=True, text=True,
                          env={**__import__("os").environ, "EDGECNN_ENGINE_CACHE": str(tmp_path / "engines")})
    assert done.returncode == 0, done.stderr
    assert list((tmp_path / "engines").glob("*.engine"))


@pytest.mark.gpu
def test_tensorrt_offline_runs_contexts_on_their_own_streams(tmp_path):
    """Needs TensorRT and an NVIDIA GPU: the offline scenario on two execution contexts, every request counted
    once, both streams busy, at least as many images/s as one stream (not asserted faster: a tiny model on a big
    GPU is bound by the host)."""
    from edgecnn.engines.trt_engine import tensorrt_available

    if not tensorrt_available():
        pytest.skip("TensorRT or an NVIDIA GPU is not available")
    from edgecnn.engines.ort_engine import OrtRunner
    from edgecnn.engines.trt_engine import TrtRunner, build_engine
    from edgecnn.export import export_onnx
    from edgecnn.profile.scenarios import run_offline
    from edgecnn.zoo import create_model

    export_onnx(create_model("resnet18"), tmp_path / "r.onnx", batch=8)
    build_engine(tmp_path / "r.onnx", tmp_path / "r.engine", precision="fp32", batch=BatchSpec(8, 8, 8))
    feed = {"input": np.random.default_rng(0).standard_normal((8, 3, 224, 224)).astype(np.float32)}
    with TrtRunner(tmp_path / "r.engine", OrtRunner(tmp_path / "r.onnx").info) as runner:
        two = run_offline(runner, feed, "2", seconds=1.0, warmup_s=0.2)
        auto = run_offline(runner, feed, "auto", seconds=1.0, warmup_s=0.2)
    assert two.streams == 2 and len(two.per_worker) == 2 and min(two.per_worker) > 0
    assert two.requests == sum(two.per_worker) and two.images == 8 * two.requests
    assert auto.streams_asked == "auto" and auto.streams >= 1 and auto.throughput > 0
