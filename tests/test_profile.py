from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from conftest import one_line_error
from edgecnn.export import export_onnx
from edgecnn.profile.latency import summarize_times
from edgecnn.profile.run import ProfileSettings, profile
from edgecnn.zoo import create_model

FAST = dict(warmup_s=0.05, min_runs=5, min_time_s=0.05)


@pytest.fixture(scope="module")
def dynamic_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("prof") / "m.onnx"
    from edgecnn.data.shapes import CLASSES

    loaded = create_model("mobilenet_v1_025", num_classes=8, input_size=32)
    loaded.labels = list(CLASSES)
    export_onnx(loaded, path, batch="dynamic")
    return path


def test_summarize_times_percentiles():
    stats = summarize_times([float(v) for v in range(1, 101)], batch=4)
    assert stats.runs == 100 and stats.min_ms == 1 and stats.max_ms == 100
    assert stats.p50_ms == pytest.approx(50.5) and stats.p99_ms == pytest.approx(99.01)
    assert stats.throughput == pytest.approx(4 * 1000 / 50.5)
    assert stats.cv == pytest.approx(np.std(range(1, 101), ddof=1) / 50.5)


def test_profile_ort_all_blocks(dynamic_model, tmp_path):
    result = profile(str(dynamic_model), "ort", settings=ProfileSettings(batches=(1, 4), threads=1, per_layer=True,
                                                                          **FAST),
                     data="synthetic:shapes:16")
    assert [s.batch for s in result.latency] == [1, 4] and all(s.runs >= 5 for s in result.latency)
    assert all(s.p50_ms <= s.p90_ms <= s.p99_ms <= s.max_ms for s in result.latency)
    # in a long-lived test process freed memory is reused, so the increase may be 0 here
    assert result.file_size_bytes == dynamic_model.stat().st_size and result.load_rss_bytes >= 0
    assert result.accuracy["images"] == 16 and 0 <= result.accuracy["top1"] <= 1
    assert result.per_layer and any(r["op"] == "Conv" for r in result.per_layer)
    assert {"cpu", "versions", "threads"} <= set(result.environment)
    assert "avx2" in result.environment["cpu"]["isa"] or result.environment["cpu"]["arch"] != "x86_64"
    out = tmp_path / "r.json"
    result.write_json(out)
    data = json.loads(out.read_text())
    assert data["latency"][0]["p50_ms"] > 0 and data["environment"]["versions"]["onnxruntime"]


def test_peak_rss_sees_a_phase_allocation():
    """In a fresh process: a long-lived one (pytest) reuses freed pages, so RSS need not grow there."""
    import subprocess
    import sys

    code = (
        "import time, numpy as np\n"
        "from edgecnn.profile.memory import peak_rss\n"
        "with peak_rss() as phase:\n"
        "    block = np.ones(40_000_000, dtype=np.uint8); time.sleep(0.05); del block\n"
        "with peak_rss() as quiet:\n"
        "    sum(range(1000))\n"
        "print(phase.increase_bytes, quiet.increase_bytes)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    phase, quiet = (int(v) for v in done.stdout.split())
    assert phase >= 30 * 2**20  # the 38 MiB block
    assert quiet < 10 * 2**20  # a new phase does not inherit the earlier peak


def test_profile_torch_baseline():
    result = profile("lenet5", "torch", settings=ProfileSettings(per_layer=True, **FAST))
    assert result.engine == "torch" and result.latency[0].p50_ms > 0 and result.per_layer


def test_cli_profile_prints_and_writes_json(cli, dynamic_model, tmp_path):
    out = tmp_path / "r.json"
    result = cli("profile", dynamic_model, "--engine", "ort", "--batch", "1,2", "--warmup-s", "0.05", "--min-runs", "5",
                 "--min-time-s", "0.05", "--json", out)
    assert result.exit_code == 0, result.output
    for word in ("p50 ms", "p99", "cv", "img/s", "peak RSS", "environment:"):
        assert word in result.stdout
    assert len(json.loads(out.read_text())["latency"]) == 2


def test_profile_refusals(cli, dynamic_model, tmp_path):
    assert "fp32 model" in one_line_error(cli("profile", dynamic_model, "--precision", "int8"))
    fixed = tmp_path / "fixed.onnx"
    export_onnx(create_model("lenet5"), fixed)
    assert "fixed batch of 1" in one_line_error(cli("profile", fixed, "--batch", "1,8", "--min-time-s", "0.01"))
    assert "cannot run a zoo artifact" in one_line_error(cli("profile", "lenet5", "--engine", "ort"))


def test_trt_without_tensorrt_is_one_line(cli, dynamic_model, tmp_path):
    from edgecnn.engines.trt_engine import tensorrt_available

    if tensorrt_available():
        pytest.skip("TensorRT is installed here")
    for args in (("profile", dynamic_model, "--engine", "trt"),
                 ("build", dynamic_model, "--engine", "trt", "-o", tmp_path / "m.engine", "--batch", "1:4:8")):
        line = one_line_error(cli(*args))
        assert "TensorRT" in line and ("pip install" in line or "GPU" in line)
    assert not (tmp_path / "m.engine").exists()


def test_compare_two_engines_and_two_files(cli, dynamic_model, tmp_path):
    from edgecnn.data.shapes import CLASSES
    from edgecnn.quantize.fp16 import convert_fp16

    def compare(*args) -> dict:
        out = tmp_path / f"c{len(list(tmp_path.glob('c*.json')))}.json"
        result = cli("compare", *args, "--samples", "8", "--json", out)
        assert result.exit_code == 0, result.output
        return json.loads(out.read_text())

    same = compare(dynamic_model, dynamic_model)  # control: one file, one engine, twice
    assert same["max_abs_error"] == 0 and same["top1_agreement"] == 1.0
    half = tmp_path / "half.onnx"
    convert_fp16(dynamic_model, half)
    torch.manual_seed(1)
    other = tmp_path / "other.onnx"  # the same architecture with other weights
    loaded = create_model("mobilenet_v1_025", num_classes=8, input_size=32)
    export_onnx(loaded, other, batch="dynamic")  # its classes are class_0 ... class_7
    # two files (FP32 and its FP16 conversion) on two engines (ONNX Runtime and OpenVINO)
    close = compare(dynamic_model, half, "--engine", "ort,openvino")
    assert close["max_abs_error"] > 0 and close["cosine"] > 0.999, close  # really two computations, and close
    far = compare(dynamic_model, other)
    assert far["cosine"] < 0.99, far  # a different model is seen as different: the comparison can fail
    assert far["difference"] is None  # random inputs have no labels: no accuracy to differ
    unknown = compare(dynamic_model, other, "--data", "synthetic:shapes:24")
    assert unknown["difference"] is None and unknown["cosine"] < 0.99  # other's classes are not the images'
    loaded.labels = list(CLASSES)
    other = export_onnx(loaded, tmp_path / "other_shapes.onnx", batch="dynamic").path
    labelled = compare(dynamic_model, other, "--data", "synthetic:shapes:24")
    difference = labelled["difference"]
    assert difference["images"] == 8 and difference["a_only"] + difference["b_only"] > 0, difference
    low, high = difference["interval_points"]
    assert low <= difference["difference_points"] <= high
    assert compare(dynamic_model, dynamic_model, "--data", "synthetic:shapes:24")["difference"]["mcnemar_p"] == 1.0


def _old_opset_classifier(path):
    """A classifier as the ONNX model zoo ships many: opset 9, no edgecnn metadata."""
    model = create_model("squeezenet1_1", num_classes=10, input_size=64).model.eval()
    torch.onnx.export(model, (torch.zeros(1, 3, 64, 64),), str(path), dynamo=False, opset_version=9,
                      input_names=["data"], output_names=["prob"])
    graph = onnx.load(str(path))
    assert max(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")) == 9
    del graph.metadata_props[:]
    onnx.save(graph, str(path))
    return path


def test_third_party_old_opset_classifier_profiles_and_compares(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECNN_CACHE", str(tmp_path / "cache"))
    old = _old_opset_classifier(tmp_path / "squeezenet_opset9.onnx")
    result = cli("profile", old, "--warmup-s", "0.05", "--min-runs", "5", "--min-time-s", "0.05")
    assert result.exit_code == 0, result.output
    assert "upgraded from opset 9 to 13" in result.stdout and "stated defaults" in result.stdout
    assert "p50 ms" in result.stdout
    upgraded_files = list((tmp_path / "cache" / "upgraded").glob("*.onnx"))
    assert len(upgraded_files) == 1
    assert max(o.version for o in onnx.load(str(upgraded_files[0])).opset_import if o.domain in ("", "ai.onnx")) == 13
    # the upgraded graph computes what the original (run as opset 9 by ONNX Runtime) does
    import onnxruntime as ort

    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    run = lambda p: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"data": x})[0]  # noqa: E731
    assert np.allclose(run(old), run(upgraded_files[0]), atol=1e-5)
    compared = cli("compare", old, "lenet5", "--samples", "4")
    assert "error:" in compared.stderr  # different input sizes: refused, not crashed
    other = tmp_path / "other.onnx"
    export_onnx(create_model("squeezenet1_1", num_classes=10, input_size=64), other)
    compared = cli("compare", old, other, "--samples", "4")
    assert compared.exit_code == 0 and "cosine" in compared.stdout, compared.output


def test_openvino_engine_agrees_with_ort(dynamic_model, cli):
    pytest.importorskip("openvino")
    result = profile(str(dynamic_model), "openvino", settings=ProfileSettings(batches=(1, 2), threads=1,
                                                                              per_layer=True, **FAST))
    assert result.engine == "openvino" and result.latency[1].batch == 2 and result.per_layer
    compared = cli("compare", dynamic_model, dynamic_model, "--engine", "ort,openvino", "--samples", "8")
    assert compared.exit_code == 0, compared.output
    assert "top-1 agreement 100.0%" in compared.stdout
