"""Files that are not what they claim, and graphs from older converters (issue 11, parts 2 and 3).

Every command that reads an ONNX file answers a truncated or foreign one with the same
one line, exit code 1, and writes nothing. Classic model-zoo graphs (IR version 3, opset
<= 9, initializers also listed as graph inputs) quantize, and their INT8 agrees with FP32.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import one_line_error

UNREADABLE = "is not a readable ONNX model (truncated or not ONNX?)"


@pytest.fixture(scope="module")
def good_model(tmp_path_factory) -> Path:
    from edgecnn.export import export_onnx
    from edgecnn.zoo import create_model

    path = tmp_path_factory.mktemp("good") / "lenet.onnx"
    export_onnx(create_model("lenet5"), path, do_verify=False)
    return path


def _bad_files(folder: Path, good: Path) -> dict[str, Path]:
    data = good.read_bytes()
    files = {
        "text": b"this is a text file, not a model\n",
        "empty": b"",
        "random": np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "half": data[: len(data) // 2],
        "tail-cut": data[:-7],
        "png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
    }
    paths = {}
    for name, content in files.items():
        path = folder / f"{name}.onnx"
        path.write_bytes(content)
        paths[name] = path
    return paths


COMMANDS = {
    "profile": lambda m, out: ["profile", m, "--min-runs", "1", "--min-time-s", "0", "--json", out / "p.json"],
    "profile-openvino": lambda m, out: ["profile", m, "--engine", "openvino", "--json", out / "p.json"],
    "eval": lambda m, out: ["eval", m, "--data", "synthetic:shapes:16", "--json", out / "e.json"],
    "compare": lambda m, out: ["compare", m, m, "--json", out / "c.json"],
    "check": lambda m, out: ["check", m, "--engine", "trt"],
    "bundle": lambda m, out: ["bundle", m, "-o", out / "bundle"],
    "quantize-int8": lambda m, out: ["quantize", m, "-o", out / "q.onnx", "--calib", "synthetic:shapes:16",
                                     "--samples", "4", "--no-speed"],
    "quantize-fp16": lambda m, out: ["quantize", m, "-o", out / "h.onnx", "--precision", "fp16"],
    "build": lambda m, out: ["build", m, "-o", out / "m.engine"],
    "summary": lambda m, out: ["summary", m, "--json", out / "s.json"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_refuses_an_unreadable_onnx_file_in_one_line(command, good_model, tmp_path, cli):
    files = _bad_files(tmp_path, good_model)
    out = tmp_path / "out"
    out.mkdir()
    for kind, path in files.items():
        message = one_line_error(cli(*COMMANDS[command](path, out)))
        assert message == f"error: {path} {UNREADABLE}", (kind, message)
        assert list(out.iterdir()) == [], (kind, list(out.iterdir()))  # nothing written, not even a .partial


def test_run_refuses_unreadable_weights_before_any_work(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.pt").write_bytes(b"not a checkpoint")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: {arch: lenet5, weights: w.pt}\ntrain: {enabled: false}\n")
    message = one_line_error(cli("run", recipe))
    assert message.startswith("error: model.weights: w.pt is not a readable PyTorch weights file")
    assert not (tmp_path / "runs").exists()


def test_calibration_data_that_is_a_file_says_so(good_model, tmp_path, cli):
    image = tmp_path / "one.jpg"
    image.write_bytes(b"x")
    message = one_line_error(cli("quantize", good_model, "-o", tmp_path / "q.onnx", "--calib", image))
    assert "is a file, not a folder" in message and not (tmp_path / "q.onnx").exists()


def test_long_lists_in_errors_are_bounded(tmp_path, cli):
    from edgecnn.core.text import bounded_list, bounded_message

    assert bounded_list(range(12)) == "0, 1, 2, 3, 4 ... and 7 more"
    assert bounded_list(["a", "b"]) == "a, b"
    long = bounded_message("x" * 20000)
    assert len(long) < 500 and "19600 more characters" in long
    # a data folder with a hundred empty classes names five of them
    for i in range(100):
        (tmp_path / "data" / f"class{i:03d}").mkdir(parents=True)
    (tmp_path / "data" / "class000" / "a.txt").write_text("x")
    message = one_line_error(cli("eval", "lenet5", "--data", tmp_path / "data"))
    assert len(message) < 400, message


# ---------------------------------------------------------------- classic model-zoo graphs
def classic_graph(path: Path, opset: int = 8) -> Path:
    """A small classifier in the classic model zoo's form, written with onnx.helper: IR version 3, an old
    opset, BatchNormalization in its opset-7 form, and every initializer also listed as a graph input."""
    rng = np.random.default_rng(0)

    def init(name, *shape, scale=0.3):
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    inits = [init("w1", 8, 3, 3, 3), init("b1", 8), init("w2", 16, 8, 3, 3), init("b2", 16),
             numpy_helper.from_array(np.ones(16, np.float32), "bn_scale"), init("bn_bias", 16),
             init("bn_mean", 16, scale=0.1), numpy_helper.from_array(np.full(16, 0.5, np.float32), "bn_var"),
             init("fc_w", 4, 16), init("fc_b", 4)]
    nodes = [
        helper.make_node("Conv", ["data", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], name="pool1"),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
        helper.make_node("BatchNormalization", ["c2", "bn_scale", "bn_bias", "bn_mean", "bn_var"], ["n2"],
                         epsilon=1e-5, name="bn2"),
        helper.make_node("Relu", ["n2"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], axis=1, name="flatten"),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["prob"], transB=1, name="fc"),
    ]
    inputs = [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 32, 32])]
    inputs += [helper.make_tensor_value_info(i.name, TensorProto.FLOAT, list(i.dims)) for i in inits]
    graph = helper.make_graph(nodes, "classic", inputs, [helper.make_tensor_value_info("prob", TensorProto.FLOAT,
                                                                                       [1, 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="old-converter")
    model.ir_version = 3
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def torch_export_in_classic_form(path: Path) -> Path:
    """A ResNet-18 exported by torch at opset 9, rewritten the way old converters wrote files."""
    import torch

    from edgecnn.zoo import create_model

    torch.manual_seed(0)
    loaded = create_model("resnet18", num_classes=8, input_size=32)
    raw = path.with_name("raw.onnx")
    torch.onnx.export(loaded.model, torch.randn(1, 3, 32, 32), str(raw), opset_version=9, dynamo=False,
                      input_names=["data"], output_names=["prob"], do_constant_folding=False)
    model = onnx.load(str(raw))
    listed = {i.name for i in model.graph.input}
    model.graph.input.extend(helper.make_tensor_value_info(i.name, i.data_type, list(i.dims))
                             for i in model.graph.initializer if i.name not in listed)
    model.ir_version = 3
    onnx.save(model, str(path))
    return path


PREPROCESS = ["--mean", "0.5,0.5,0.5", "--std", "0.25,0.25,0.25", "--input-size", "32"]


@pytest.mark.parametrize("maker", [classic_graph, torch_export_in_classic_form], ids=["helper-opset8", "torch-opset9"])
def test_classic_model_zoo_graphs_quantize_and_agree_with_fp32(maker, tmp_path, cli, monkeypatch):
    monkeypatch.setenv("EDGECNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EDGECNN_CALIB_CACHE", str(tmp_path / "calib"))
    source = maker(tmp_path / "classic.onnx")
    original = source.read_bytes()
    from edgecnn.core.onnx_io import is_classic, opset_of

    assert is_classic(onnx.load(str(source))) and opset_of(onnx.load(str(source))) <= 9
    out = tmp_path / "int8.onnx"
    result = cli("quantize", source, "-o", out, "--calib", "synthetic:shapes:64", "--samples", "32", "--no-speed",
                 *PREPROCESS)
    assert result.exit_code == 0, result.output
    assert "also listed as graph inputs" in result.stderr and "upgraded from opset" in result.stderr
    assert source.read_bytes() == original  # the user's file is never touched
    quantized = onnx.load(str(out))
    assert opset_of(quantized) >= 13 and any(n.op_type == "QuantizeLinear" for n in quantized.graph.node)
    initializers = {i.name for i in quantized.graph.initializer}
    assert [i.name for i in quantized.graph.input if i.name not in initializers] == ["data"]
    assert not [i for i in quantized.graph.input if i.name in initializers]
    # edgecnn compare: the same 64 images through the classic FP32 file and its INT8
    report = tmp_path / "compare.json"
    done = cli("compare", source, out, "--data", "synthetic:shapes:64", "--samples", "64", "--json", report)
    assert done.exit_code == 0, done.output
    agreement = json.loads(report.read_text())
    assert agreement["samples"] == 64 and agreement["cosine"] > 0.97, agreement
    half = cli("quantize", source, "-o", tmp_path / "fp16.onnx", "--precision", "fp16")
    assert half.exit_code == 0, half.output
    assert re.search(r"cosine 0\.99\d+|cosine 1\.0", half.stdout), half.stdout


def test_normalize_reports_each_change_and_keeps_modern_graphs(tmp_path):
    from edgecnn.core.onnx_io import is_classic, normalize

    model = onnx.load(str(classic_graph(tmp_path / "c.onnx", opset=7)))
    fixed, notes = normalize(model)
    assert len(notes) == 3 and "10 initializers" in notes[0] and "opset 7 to 13" in notes[1] and "folded" in notes[2]
    assert not is_classic(fixed) and fixed.ir_version >= 7
    assert model.ir_version == 3  # the input proto is not modified
