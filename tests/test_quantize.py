from __future__ import annotations

import json
import struct

import numpy as np
import onnx
import onnx.numpy_helper
import pytest
from onnx import TensorProto, helper
from PIL import Image

from conftest import one_line_error
from edgecnn.export import export_onnx, read_metadata
from edgecnn.quantize import calibration as calibration_module
from edgecnn.quantize.calibration import tensorrt_calibration_table
from edgecnn.quantize.int8 import QuantizeOptions, is_quantized, quantize_int8
from edgecnn.zoo import create_model

CALIB = "synthetic:shapes:40"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECNN_CALIB_CACHE", str(tmp_path / "calib-cache"))


@pytest.fixture
def fp32_model(tmp_path):
    from edgecnn.data.shapes import CLASSES

    loaded = create_model("mobilenet_v1_025", num_classes=8, input_size=32)
    loaded.labels = list(CLASSES)
    path = tmp_path / "m.onnx"
    export_onnx(loaded, path)
    return path


def _options(**kwargs):
    return QuantizeOptions(samples=16, **kwargs)


def test_int8_qdq_model_with_provenance(fp32_model, tmp_path):
    out = tmp_path / "m_int8.onnx"
    report = quantize_int8(fp32_model, out, CALIB, options=_options(method="minmax"), progress=False)
    model = onnx.load(str(out))
    assert is_quantized(model)
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in model.graph.node}
    assert report.quantized_nodes > 10 and report.size_bytes < 0.5 * report.fp32_size_bytes
    meta = read_metadata(model)
    info = json.loads(meta.extra["quantization"])
    assert info["method"] == "minmax" and info["samples"] == 16 and info["data_hash"] == report.data_hash
    assert meta.extra["precision"] == "int8" and meta.preprocess.crop == (32, 32)
    assert report.agreement["samples"] == 16 and 0.9 < report.agreement["cosine"] <= 1.0 + 1e-6


def test_another_method_reuses_the_calibration_tensors(fp32_model, tmp_path, monkeypatch):
    first = quantize_int8(fp32_model, tmp_path / "a.onnx", CALIB, options=_options(method="minmax"), progress=False)
    assert first.images_read == 16 and not first.calibration_from_cache

    def no_images(*args, **kwargs):
        raise AssertionError("images were read again")

    monkeypatch.setattr(calibration_module, "_calibration_images", no_images)
    second = quantize_int8(fp32_model, tmp_path / "b.onnx", CALIB, options=_options(method="entropy"), progress=False)
    assert second.images_read == 0 and second.calibration_from_cache and not second.ranges_from_cache
    third = quantize_int8(fp32_model, tmp_path / "c.onnx", CALIB, options=_options(method="entropy"), progress=False)
    assert third.ranges_from_cache  # identical run: ranges from ORT's calibration cache


def test_percentile_and_symmetric_activations_and_trt_table(fp32_model, tmp_path):
    table = tmp_path / "calib.table"
    report = quantize_int8(fp32_model, tmp_path / "p.onnx", CALIB, options=_options(
        method="percentile", percentile=99.9, symmetric_activations=True, per_channel=False),
        trt_table=table, progress=False)
    lines = table.read_text().splitlines()
    assert lines[0].startswith("TRT-") and lines[0].endswith("-EntropyCalibration2")
    name, hexscale = lines[1].split(": ")
    scale = struct.unpack(">f", bytes.fromhex(hexscale))[0]
    assert 0 < scale < 10
    model = onnx.load(str(tmp_path / "p.onnx"))
    zero_points = [i for i in model.graph.initializer if i.name.endswith("zero_point")]
    activation_zps = [i for i in zero_points if i.data_type != TensorProto.INT32]  # INT32: bias
    assert activation_zps and all(i.data_type == TensorProto.INT8 for i in activation_zps)  # int8, not uint8
    assert all(onnx.numpy_helper.to_array(i).max() == 0 for i in activation_zps)  # symmetric: zero point 0
    assert report.method == "percentile"


def test_trt_table_scale_is_amax_over_127():
    text = tensorrt_calibration_table({"input": (-2.0, 2.54)}, version="TRT-100300")
    assert text.splitlines()[0] == "TRT-100300-EntropyCalibration2"
    assert struct.unpack(">f", bytes.fromhex(text.splitlines()[1].split(": ")[1]))[0] == pytest.approx(0.02, rel=1e-6)


def test_op_types_and_exclude(fp32_model, tmp_path):
    only_conv = quantize_int8(fp32_model, tmp_path / "c.onnx", CALIB, options=_options(op_types=["Conv"]),
                              progress=False)
    assert "Gemm" in only_conv.float_nodes
    node = next(n.name for n in onnx.load(str(fp32_model)).graph.node if n.op_type == "Conv")
    excluded = quantize_int8(fp32_model, tmp_path / "e.onnx", CALIB, options=_options(exclude=[node]), progress=False)
    assert excluded.excluded == [node]


def test_fp16(fp32_model, tmp_path):
    from edgecnn.quantize.fp16 import convert_fp16

    result = convert_fp16(fp32_model, tmp_path / "h.onnx")
    model = onnx.load(str(tmp_path / "h.onnx"))
    assert model.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT  # FP32 interface kept
    assert any(i.data_type == TensorProto.FLOAT16 for i in model.graph.initializer)
    assert result["size_bytes"] < 0.6 * result["fp32_size_bytes"]
    assert result["agreement"]["cosine"] > 0.999
    assert read_metadata(model).extra["precision"] == "fp16"


COLOURS = {"blue": (0.1, 0.15, 0.9), "green": (0.1, 0.85, 0.15), "grey": (0.5, 0.5, 0.5), "red": (0.9, 0.1, 0.12)}


@pytest.fixture
def colour_task(tmp_path):
    """A classifier that reads an image's mean colour, and images of four colours: FP32 top-1 is 100 % by
    construction. One feature channel is a constant 1000 that the head ignores; with per-tensor activation
    ranges it takes the whole INT8 range, so plain INT8 rounds the colour features to zero and predicts
    'grey' for every image (25 %). Keeping the damaged nodes in float restores 100 %. Nothing is trained:
    the outcome is the same on every machine."""
    from edgecnn.data.preprocess import PreprocessSpec
    from edgecnn.core.metadata import ModelMetadata, write_metadata

    rng = np.random.default_rng(0)
    data = tmp_path / "colours"
    for name, rgb in COLOURS.items():
        (data / name).mkdir(parents=True)
        for i in range(10):
            pixels = np.clip(np.asarray(rgb) + rng.normal(0, 0.04, (16, 16, 3)), 0, 1)
            Image.fromarray((pixels * 255).astype(np.uint8)).save(data / name / f"{i}.png")
    conv_w = np.zeros((4, 3, 1, 1), np.float32)
    conv_w[0, 0] = conv_w[1, 1] = conv_w[2, 2] = 1.0  # features: mean R, G, B ...
    conv_b = np.array([0, 0, 0, 1000], np.float32)  # ... and a constant channel the head never reads
    labels = sorted(COLOURS)  # blue, green, grey, red
    head = np.zeros((4, 4), np.float32)  # rows: classes; columns: R, G, B, constant
    head[labels.index("red")] = [1, -0.5, -0.5, 0]
    head[labels.index("green")] = [-0.5, 1, -0.5, 0]
    head[labels.index("blue")] = [-0.5, -0.5, 1, 0]
    bias = np.zeros(4, np.float32)
    bias[labels.index("grey")] = 0.15
    inits = [onnx.numpy_helper.from_array(v, n) for n, v in
             (("conv_w", conv_w), ("conv_b", conv_b), ("head_w", head), ("head_b", bias))]
    nodes = [helper.make_node("Conv", ["input", "conv_w", "conv_b"], ["c"], name="features"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["g"], name="pool"),
             helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "head_w", "head_b"], ["logits"], transB=1, name="head")]
    graph = helper.make_graph(nodes, "colours", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                              ["batch", 3, 16, 16])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    spec = PreprocessSpec(resize=16, crop=(16, 16), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    write_metadata(model, ModelMetadata(architecture="colour_net", task="classification", input_names=["input"],
                                        output_names=["logits"], input_shape=["batch", 3, 16, 16], layout="NCHW",
                                        preprocess=spec, labels=labels, weights_sha256="", weights_source="test"))
    path = tmp_path / "colour.onnx"
    onnx.save(model, str(path))
    return path, data


def test_accuracy_budget_missed_by_plain_int8_is_met_by_float_fallback(colour_task, tmp_path):
    from edgecnn.data import load_images
    from edgecnn.quantize.accuracy_aware import quantize_with_budget, sensitivity_ranking, top1, validation_arrays

    model, data = colour_task
    images = load_images(str(data), image_size=16)
    options = QuantizeOptions(samples=40, method="minmax", max_drop=1.0)
    plain = tmp_path / "plain.onnx"
    report = quantize_with_budget(str(model), str(tmp_path / "aware.onnx"), str(data), images, options=options,
                                  plain_output=str(plain), progress=False)
    assert report.fp32_top1 == 1.0 and report.int8_top1 == 0.25  # plain INT8: every image called grey
    assert report.steps[0]["drop"] == 75.0 > report.max_drop
    assert [s.get("calibration") for s in report.steps[1:3]] == ["percentile", "entropy"]  # no other ranges help:
    assert all(s["drop"] == 75.0 for s in report.steps[1:3])  # a constant channel takes every range
    assert report.kept_float and report.met and report.final_drop <= 1.0 and report.final_top1 == 1.0
    assert [s["drop"] for s in report.steps][-1] <= 1.0 < report.steps[0]["drop"]
    # the files say the same: the written model is the one measured, the plain one is the one that missed
    inputs, targets = validation_arrays(images, read_metadata(str(model)).preprocess, sorted(COLOURS))
    assert top1(str(tmp_path / "aware.onnx"), inputs, targets) == 1.0 and top1(str(plain), inputs, targets) == 0.25
    kept = json.loads(read_metadata(str(tmp_path / "aware.onnx")).extra["quantization"])["excluded"]
    assert sorted(kept) == sorted(report.kept_float)
    # the ranking (SQNR of each Q/DQ, worst first) puts the Relu output first: its range is the one the constant
    # channel blew up (the Relu the quantizer removed is compared rectified, so it is not counted as error)
    ranking = sensitivity_ranking(str(model), str(plain), inputs)
    assert ranking == sorted(ranking, key=lambda item: item[1]) and ranking[0][0] == "r", ranking


def test_a_budget_missed_by_one_calibration_method_is_met_by_another(colour_task, tmp_path):
    """The colour net with its constant channel replaced by one bright pixel: channel 4 = relu(20000 (R - 0.95))
    is 1000 at the single pixel whose red is 1.0 (one image of 40) and 0 elsewhere. Min/max ranges take that one
    value and round the colour features to zero (25 %, every image 'grey'); a percentile range leaves it out
    (it is 1 value of 40,960), so the budget is met with nothing kept in float."""
    from edgecnn.data import load_images
    from edgecnn.quantize.accuracy_aware import quantize_with_budget

    model_path, data = colour_task
    model = onnx.load(str(model_path))
    weights = {i.name: i for i in model.graph.initializer}
    conv_w, conv_b = onnx.numpy_helper.to_array(weights["conv_w"]).copy(), onnx.numpy_helper.to_array(weights["conv_b"]).copy()
    conv_w[3, 0], conv_b[3] = 20000.0, -0.95 * 20000.0
    weights["conv_w"].CopyFrom(onnx.numpy_helper.from_array(conv_w, "conv_w"))
    weights["conv_b"].CopyFrom(onnx.numpy_helper.from_array(conv_b, "conv_b"))
    onnx.save(model, str(model_path))
    for image in (data / name / f"{i}.png" for name in COLOURS for i in range(10)):  # no pixel reaches 0.95 red ...
        pixels = np.asarray(Image.open(image)).copy()
        pixels[..., 0] = np.minimum(pixels[..., 0], 235)
        Image.fromarray(pixels).save(image)
    spike = data / "red" / "0.png"  # ... but one
    pixels = np.asarray(Image.open(spike)).copy()
    pixels[0, 0, 0] = 255
    Image.fromarray(pixels).save(spike)
    images = load_images(str(data), image_size=16)
    report = quantize_with_budget(str(model_path), str(tmp_path / "aware.onnx"), str(data), images, progress=False,
                                  options=QuantizeOptions(samples=40, method="minmax", max_drop=1.0))
    assert report.fp32_top1 == 1.0 and report.steps[0]["drop"] == 75.0  # min/max: every image called grey
    assert report.met and not report.kept_float and report.method == "ptq", report.steps
    assert report.calibration == "percentile" and [s.get("calibration") for s in report.steps] == [None, "percentile"]
    written = json.loads(read_metadata(str(tmp_path / "aware.onnx")).extra["quantization"])
    assert written["method"] == report.calibration


def test_cli_quantize_with_max_drop(colour_task, tmp_path, cli):
    model, data = colour_task
    out = tmp_path / "q.onnx"
    result = cli("quantize", model, "-o", out, "--calib", data, "--samples", "40", "--method", "minmax", "--val", data,
                 "--max-drop", "1", "--speed-rounds", "1", "--json", tmp_path / "q.json")
    assert result.exit_code == 0, result.output
    assert "plain INT8 25.00%, final 100.00% (drop 0.00 points, budget 1.0: met) on 40 images" in result.stdout
    assert "kept in float (" in result.stdout and "plain INT8" in result.stdout.split("latency:")[1]
    payload = json.loads((tmp_path / "q.json").read_text())
    assert payload["accuracy"]["met"] and payload["accuracy"]["kept_float"] and payload["latency_ms"]["int8 plain"] > 0
    refused = one_line_error(cli("quantize", model, "-o", tmp_path / "r.onnx", "--calib", data, "--max-drop", "1"))
    assert "--max-drop needs labelled images" in refused and not (tmp_path / "r.onnx").exists()
    negative = one_line_error(cli("quantize", model, "-o", tmp_path / "r.onnx", "--calib", data, "--val", data,
                                  "--max-drop", "-1"))
    assert "--max-drop" in negative


def test_speed_check_and_explanation(fp32_model, tmp_path):
    from edgecnn.quantize.speed import compare_speed, explain

    quantize_int8(fp32_model, tmp_path / "q.onnx", CALIB, options=_options(), progress=False)
    latency = compare_speed({"fp32": str(fp32_model), "int8": str(tmp_path / "q.onnx")}, rounds=1, round_s=0.1)
    assert latency["fp32"] > 0 and latency["int8"] > 0
    assert explain(10.0, 5.0, {}, 10) == []
    lines = explain(10.0, 11.0, {"Sigmoid": 16, "Mul": 16}, 10)
    assert "not faster" in lines[0] and "Sigmoid x16" in lines[1]


def test_cli_quantize_int8_and_fp16(cli, fp32_model, tmp_path):
    out = tmp_path / "q.onnx"
    result = cli("quantize", fp32_model, "-o", out, "--calib", CALIB, "--samples", "16", "--val", "synthetic:shapes:32",
                 "--speed-rounds", "1", "--json", tmp_path / "q.json")
    assert result.exit_code == 0, result.output
    assert "latency:" in result.stdout and "VNNI" in result.stdout and "accuracy:" in result.stdout
    data = json.loads((tmp_path / "q.json").read_text())
    assert data["latency_ms"]["int8"] > 0 and "fp32_top1" in data["accuracy"]
    half = cli("quantize", fp32_model, "-o", tmp_path / "h.onnx", "--precision", "fp16")
    assert half.exit_code == 0 and "cosine" in half.stdout


def _bare_model(path, channels=3):
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, channels, 3, 3], np.random.rand(4 * channels * 9).tolist())
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
         helper.make_node("GlobalAveragePool", ["c"], ["p"], name="pool"),
         helper.make_node("Flatten", ["p"], ["y"], name="flat")],
        "bare", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_bad_input_is_one_line(cli, fp32_model, tmp_path):
    out = tmp_path / "o.onnx"
    (tmp_path / "empty").mkdir()
    assert "empty" in one_line_error(cli("quantize", fp32_model, "-o", out, "--calib", tmp_path / "empty"))
    assert "does not exist" in one_line_error(cli("quantize", fp32_model, "-o", out, "--calib", tmp_path / "none"))
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.jpg").write_bytes(b"not really a jpeg")
    assert "no readable images" in one_line_error(cli("quantize", fp32_model, "-o", out, "--calib", junk))
    quantized = tmp_path / "q.onnx"
    quantize_int8(fp32_model, quantized, CALIB, options=_options(), progress=False)
    assert "already quantized" in one_line_error(cli("quantize", quantized, "-o", out, "--calib", CALIB))
    bare = _bare_model(tmp_path / "bare.onnx")
    line = one_line_error(cli("quantize", bare, "-o", out, "--calib", CALIB))
    assert "--mean, --std and --input-size" in line
    ok = cli("quantize", bare, "-o", out, "--calib", CALIB, "--samples", "8", "--mean", "0.5,0.5,0.5", "--std",
             "0.25,0.25,0.25", "--input-size", "16", "--no-speed")
    assert ok.exit_code == 0, ok.output
    four = _bare_model(tmp_path / "four.onnx", channels=4)
    assert "4-channel input" in one_line_error(cli("quantize", four, "-o", tmp_path / "f.onnx", "--calib", CALIB,
                                                   "--mean", "0.5,0.5,0.5", "--std", "1,1,1", "--input-size", "16"))
    assert "--calib" in one_line_error(cli("quantize", fp32_model, "-o", tmp_path / "x.onnx"))


def test_speed_aware_selection_keeps_silu_high_resolution_stages_float(tmp_path):
    from onnx import shape_inference

    from edgecnn.quantize.selection import float_prefix, high_resolution_nodes, silu_pairs, speed_aware_exclusions

    export_onnx(create_model("efficientnet_b0", input_size=64), tmp_path / "e.onnx")
    export_onnx(create_model("mobilenet_v2", input_size=64), tmp_path / "m.onnx")
    efficientnet, mobilenet = onnx.load(str(tmp_path / "e.onnx")), onnx.load(str(tmp_path / "m.onnx"))
    assert len(silu_pairs(efficientnet)) >= 49 and silu_pairs(mobilenet) == []
    names, note = speed_aware_exclusions(efficientnet)
    assert names == float_prefix(efficientnet) and "SiLU" in note
    order = [n.name for n in efficientnet.graph.node]
    assert names == order[: len(names)]  # a prefix of the graph
    assert set(high_resolution_nodes(efficientnet)) <= set(names)  # covers every map above stride 16
    assert not any("features.6/" in n or "features.7/" in n for n in names)  # stride 32 stays quantized
    # it ends on a block's projection convolution: a narrow tensor, not the expanded one
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in shape_inference.infer_shapes(efficientnet).graph.value_info}
    last = efficientnet.graph.node[len(names) - 1]
    assert last.op_type == "Conv" and shapes[last.output[0]][1] < shapes[last.input[0]][1]
    assert speed_aware_exclusions(mobilenet) == ([], None)
    assert high_resolution_nodes(mobilenet)  # the rule needs SiLU to apply, not just big maps


def test_asymmetric_per_tensor_weights_take_ort_gemm_form(fp32_model, tmp_path):
    """--asymmetric-weights: weight zero points other than 0 (ONNX Runtime's QLinearConv then runs its quantized
    GEMM, the path with AMX kernels, instead of the symmetric indirect convolution); refused per channel."""
    from edgecnn.core.options import OptionError

    out = tmp_path / "gemm.onnx"
    report = quantize_int8(fp32_model, out, CALIB, options=_options(per_channel=False, symmetric_weights=False,
                                                                      method="minmax"), progress=False)
    model = onnx.load(str(out))
    weight_zero_points = [onnx.numpy_helper.to_array(t) for t in model.graph.initializer
                          if t.name.endswith("zero_point") and t.data_type == TensorProto.INT8]
    assert weight_zero_points and any(np.any(z != 0) for z in weight_zero_points)
    assert all(z.size == 1 for z in weight_zero_points)  # per tensor
    # (how close per-tensor weights stay to FP32 depends on the model: a random one's channels differ widely)
    assert np.isfinite(report.agreement["cosine"])
    assert json.loads(read_metadata(out).extra["quantization"])["symmetric_weights"] is False
    with pytest.raises(OptionError, match="per-tensor"):
        QuantizeOptions(symmetric_weights=False)
