"""ExecuTorch (.pte) and LiteRT (.tflite): the export verified against PyTorch with each runtime, INT8 with its
provenance, the delegation report, the engines (profile, per-layer, compare) and "unavailable" without the extra.

The runtimes are real (``pip install '.[test]'`` installs executorch and litert-torch). Outside CI a missing one
skips its tests; in CI (``CI=true``) it fails them. Tiny models: lenet5 (its C3 connection table is a masked
convolution that XNNPACK does not take: a real fall-back) and mobilenet_v1_025 at 32 px.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from edgecnn.errors import DependencyMissing, UsageError

CI = os.environ.get("CI", "").lower() == "true"


def need(module: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError as exc:
        if CI:
            pytest.fail(f"{module} is not installed in CI ({exc}); pip install '.[test]' should bring it")
        pytest.skip(f"{module} not installed")


def _cli(*args: str):
    from edgecnn.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def lenet(tmp_path_factory):
    """One lenet5 (seeded) exported to ONNX, .pte and .tflite: the same weights in every file."""
    import torch

    from edgecnn.export import export_model
    from edgecnn.zoo import create_model

    need("executorch.runtime")
    need("litert_torch")
    torch.manual_seed(0)
    loaded = create_model("lenet5")
    folder = tmp_path_factory.mktemp("lenet")
    reports = {fmt: export_model(loaded, folder / f"lenet5.{fmt}", format=fmt) for fmt in ("onnx", "pte", "tflite")}
    return loaded, folder, reports


def test_pte_export_is_verified_by_executorch_and_carries_its_metadata(lenet):
    from edgecnn.export.sidecar import read_sidecar

    loaded, folder, reports = lenet
    report = reports["pte"]
    assert report.format == "pte" and report.verification.passed
    assert report.verification.runtime == "ExecuTorch (XNNPACK)"
    assert report.verification.max_abs_error <= report.verification.outputs[0].tolerance
    meta, delegation = read_sidecar(folder / "lenet5.pte")
    assert report.sidecar == str(folder / "lenet5.pte.json")
    assert meta.architecture == "lenet5" and meta.layout == "NCHW" and meta.labels == loaded.labels
    assert meta.preprocess == loaded.preprocess and meta.input_shape == [1, *loaded.input_size]
    assert meta.export["exporter"] == "executorch" and meta.extra["precision"] == "fp32"
    assert delegation is not None and delegation.partitions >= 1


def test_pte_delegation_report_names_what_falls_back(lenet):
    """lenet5's C3 layer multiplies its weight by a connection mask at run time; XNNPACK takes only constant
    weights, so that convolution runs on ExecuTorch's portable kernels and the report must say so."""
    _, folder, reports = lenet
    delegation = reports["pte"].delegation
    assert "aten_convolution_default" in delegation["fallback_ops"]
    assert delegation["delegated"] > 0 and delegation["fallback"] > 0
    result = _cli("check", folder / "lenet5.pte")
    assert result.exit_code == 0, result.output
    assert "fall back: aten_convolution_default" in result.output


def test_tflite_export_keeps_metadata_inside_the_file(lenet):
    from edgecnn.export.tflite import read_tflite_metadata

    loaded, folder, reports = lenet
    report = reports["tflite"]
    assert report.verification.passed and report.verification.runtime == "LiteRT (XNNPACK)"
    assert report.sidecar is None and not (folder / "lenet5.tflite.json").exists()
    meta = read_tflite_metadata(folder / "lenet5.tflite")
    assert meta.architecture == "lenet5" and meta.labels == loaded.labels and meta.preprocess == loaded.preprocess
    assert meta.export["exporter"] == "litert-torch" and meta.input_shape == [1, *loaded.input_size]
    assert report.delegation["partitions"] >= 1 and report.delegation["delegated"] > 0
    result = _cli("check", folder / "lenet5.tflite")
    assert result.exit_code == 0 and "XNNPACK runs" in result.output


def test_tflite_fp16_holds_float16_weights_and_agrees_with_fp32(lenet, tmp_path):
    """edgecnn quantize m.tflite --precision fp16: float16 weights (ai-edge-quantizer), metadata "fp16", checked
    against the FP32 file on LiteRT; the engine runs it as fp16 and refuses it as fp32."""
    import collections

    from ai_edge_litert.interpreter import Interpreter

    from edgecnn.engines import load_runner
    from edgecnn.export.tflite import read_tflite_metadata

    loaded, folder, reports = lenet
    out = tmp_path / "lenet5_fp16.tflite"
    result = _cli("quantize", folder / "lenet5.tflite", "--precision", "fp16", "-o", out)
    assert result.exit_code == 0, result.output
    assert "verified:  cosine" in result.output
    assert out.stat().st_size < 0.7 * (folder / "lenet5.tflite").stat().st_size
    meta = read_tflite_metadata(out)
    assert meta.extra["precision"] == "fp16" and json.loads(meta.extra["conversion"])["weights"] == "float16"
    dtypes = collections.Counter(d["dtype"].__name__ for d in Interpreter(model_path=str(out)).get_tensor_details())
    assert dtypes["float16"] >= 3  # C1, C3, C5 and the classifier's weights
    runner = load_runner(out, precision="fp16")
    assert runner.engine == "litert" and runner.info.extra["precision"] == "fp16"
    with pytest.raises(UsageError, match="holds a fp16 model"):
        load_runner(out, precision="fp32")
    again = _cli("quantize", out, "--precision", "fp16", "-o", tmp_path / "twice.tflite")
    assert again.exit_code != 0 and "holds a fp16 model; convert the FP32 .tflite" in again.output


def test_delegation_walk_separates_partitions_from_fallbacks():
    """LiteRT appends each XNNPACK partition as a DELEGATE node; the operators between its inputs and outputs are
    inside, the rest (a CUMSUM here, between two delegated convolutions) run on LiteRT's kernels."""
    from edgecnn.export.tflite import delegation_from_ops

    ops = [
        {"index": 0, "op_name": "CONV_2D", "inputs": [0, 1, 2], "outputs": [3]},
        {"index": 1, "op_name": "CUMSUM", "inputs": [3, 4], "outputs": [5]},
        {"index": 2, "op_name": "CONV_2D", "inputs": [5, 6, 7], "outputs": [8]},
        {"index": 3, "op_name": "DELEGATE", "inputs": [0, 1, 2], "outputs": [3]},
        {"index": 4, "op_name": "DELEGATE", "inputs": [5, 6, 7], "outputs": [8]},
    ]
    report = delegation_from_ops(ops)
    assert report.partitions == 2 and report.delegated == 2 and report.fallback_ops == ["CUMSUM"]
    assert "2 of 3 operators" in report.summary() and not report.fully_delegated
    none = delegation_from_ops(ops[:3])
    assert none.partitions == 0 and none.delegated == 0 and "took nothing" in none.summary()


def test_engines_profile_compare_and_per_layer(lenet):
    from edgecnn.engines import load_runner
    from edgecnn.profile.compare_outputs import compare_models
    from edgecnn.profile.run import profile

    _, folder, _ = lenet
    timing = dict(batches=(1,), threads=1, warmup_s=0.05, min_runs=5, min_time_s=0.05)
    pte = profile(folder / "lenet5.pte", per_layer=True, **timing)
    assert pte.engine == "executorch" and pte.precision == "fp32" and pte.latency[0].runs >= 5
    ops = {row["op"] for row in pte.per_layer}
    assert any(op.startswith("Convolution (NHWC, F32)") for op in ops), ops  # XNNPACK's own operator names
    assert not {"DELEGATE_CALL", "OPERATOR_CALL", "Method::execute"} & ops
    tfl = profile(folder / "lenet5.tflite", per_layer=True, **timing)
    assert tfl.engine == "litert" and tfl.latency[0].runs >= 5 and tfl.per_layer is None
    assert any("no per-layer times from litert" in w for w in tfl.warnings)
    with pytest.raises(UsageError, match="fixed batch of 1"):
        profile(folder / "lenet5.pte", **{**timing, "batches": (1, 4)})
    for other in ("lenet5.pte", "lenet5.tflite"):
        result = compare_models(folder / "lenet5.onnx", folder / other, samples=4)
        assert result.cosine > 0.9999, (other, result)
    with pytest.raises(UsageError, match="holds a fp32 model"):
        load_runner(folder / "lenet5.tflite", precision="int8")


@pytest.mark.parametrize("engine, suffix", [("executorch", "pte"), ("litert", "tflite")])
def test_int8_is_calibrated_like_onnx_and_says_so(tmp_path, engine, suffix):
    import torch

    from edgecnn.engines import load_runner
    from edgecnn.quantize import quantize_model

    need("executorch.runtime" if engine == "executorch" else "litert_torch")
    torch.manual_seed(0)
    out = tmp_path / f"m_int8.{suffix}"
    outcome = quantize_model("mobilenet_v1_025", out, calib="synthetic:shapes", placed_for=engine, samples=8,
                             input_size=32, speed=False)
    report = outcome.mobile
    assert report.precision == "int8" and out.exists()
    runner = load_runner(out)
    meta = runner.info.extra["metadata"]
    assert runner.engine == engine and runner.info.extra["precision"] == "int8" and meta.extra["precision"] == "int8"
    calibration = meta.export["calibration"]
    assert calibration["source"] == "synthetic:shapes" and calibration["samples"] == 8 and calibration["data_hash"]
    assert meta.export["quantizer"] == "pt2e" and meta.export["per_channel"] is True
    # agreement with FP32 on the calibration images; seeded random weights, observed cosine 0.9999x: wide margin
    assert report.verification.samples == 8 and report.verification.min_cosine > 0.95
    with pytest.raises(UsageError, match="holds a int8 model"):
        load_runner(out, precision="fp32")
    assert json.loads(json.dumps(outcome.to_dict(), default=str))["quantize"]["precision"] == "int8"
    if engine == "litert":  # full integer: no float convolution left (the budget's fallback adds some)
        assert _float_weights(out) == 0 and "kept_float" not in meta.export


def test_int8_pte_refuses_per_channel_outside_xnnpack(tmp_path):
    """ExecuTorch 1.5's portable quantize_per_channel kernel asserts on float scales (the process aborts): a
    per-channel operator that XNNPACK leaves outside (lenet5's masked C3 convolution) is refused before it runs,
    and per-tensor works."""
    need("executorch.runtime")
    result = _cli("quantize", "lenet5", "--for", "executorch", "--calib", "synthetic:shapes", "--samples", "4",
                  "--no-speed", "-o", tmp_path / "l.pte")
    assert result.exit_code == 2 and "--per-tensor" in result.output and not (tmp_path / "l.pte").exists()
    result = _cli("quantize", "lenet5", "--for", "executorch", "--per-tensor", "--calib", "synthetic:shapes",
                  "--samples", "4", "--no-speed", "-o", tmp_path / "l.pte")
    assert result.exit_code == 0, result.output
    assert "int8 pte" in result.output and "fall back" in result.output


def test_litert_int8_io_is_quantized_with_the_tensors_own_scale():
    from edgecnn.export.tflite import from_tensor, quantizer_of, to_tensor

    detail = {"dtype": np.int8, "quantization": (0.05, -3)}
    x = np.array([[-1.0, 0.0, 0.5, 100.0]], dtype=np.float32)
    q = to_tensor(x, detail)
    assert q.dtype == np.int8 and q.tolist() == [[-23, -3, 7, 127]]  # clipped at 127
    assert np.allclose(from_tensor(q, detail)[0, :3], [-1.0, 0.0, 0.5])
    assert quantizer_of({"dtype": np.float32, "quantization": (0.0, 0)}) is None
    assert to_tensor(x, {"dtype": np.float32, "quantization": (0.0, 0)}).dtype == np.float32


def test_unavailable_without_the_extra(monkeypatch, tmp_path):
    """Without the runtime the engine says how to install it, in one line; the capability table says it too."""
    from edgecnn.engines.registry import capability_table, get_engine
    from edgecnn.export.pte import require_executorch
    from edgecnn.export.tflite import require_converter, require_litert

    for module in ("ai_edge_litert", "ai_edge_litert.interpreter", "litert_torch", "executorch", "executorch.exir",
                   "executorch.runtime"):
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(DependencyMissing, match=r"pip install 'edgecnn\[litert\]'"):
        require_litert()
    with pytest.raises(DependencyMissing, match=r"pip install 'edgecnn\[litert\]'"):
        require_converter()
    with pytest.raises(DependencyMissing, match=r"pip install 'edgecnn\[executorch\]'"):
        require_executorch()
    assert not get_engine("litert").available() and not get_engine("executorch").available()
    table = "\n".join(capability_table())
    assert "no: pip install 'edgecnn[litert]'" in table and "no: pip install 'edgecnn[executorch]'" in table
    result = _cli("export", "lenet5", "--format", "pte", "-o", tmp_path / "x.pte")
    assert result.exit_code != 0 and "pip install 'edgecnn[executorch]'" in result.output
    assert not (tmp_path / "x.pte").exists()


def _without(blocked: tuple[str, ...]) -> str:
    """test_bundle's runner of infer.py with these top-level modules made unimportable."""
    from test_bundle import NO_TORCH

    return NO_TORCH.replace('BLOCKED = ("torch", "torchvision", "edgecnn", "timm", "onnx", "onnxsim")',
                            f"BLOCKED = {blocked!r}")


@pytest.fixture(scope="module")
def prototypes(tmp_path_factory):
    """test_bundle's prototype classifier (predictions that vary by construction, no training) and its photos."""
    from test_bundle import make_photos, prototype_classifier

    root = tmp_path_factory.mktemp("mobile-bundle")
    photos = make_photos(root / "photos")
    loaded, prototypes, margin = prototype_classifier(photos)
    return root, loaded, photos, prototypes


# (format, runtime module the test needs, preprocess.json's loader, results engine, what the device must not need)
BUNDLES = [
    ("tflite", "litert_torch", "ai_edge_litert", "litert", ("torch", "torchvision", "edgecnn", "timm", "onnx",
                                                            "onnxsim", "onnxruntime", "litert_torch", "executorch")),
    # ExecuTorch's Python runtime takes torch tensors, so torch stays; torch probes for onnx and onnxruntime at
    # import (a blocked module raises there, where a missing one is just absent), so only edgecnn is blocked
    ("pte", "executorch.runtime", "executorch_runtime", "executorch", ("edgecnn", "timm")),
    # ncnn: model.param + model.bin over the ncnn package alone (pnnx, the converter, stays on the host)
    ("ncnn", "pnnx", "ncnn_net", "ncnn", ("torch", "torchvision", "edgecnn", "timm", "onnx", "onnxsim",
                                          "onnxruntime", "pnnx", "litert_torch", "executorch")),
]
SUFFIXES = {"tflite": ".tflite", "pte": ".pte", "ncnn": ".param"}
REQUIREMENTS = {"tflite": "ai-edge-litert", "pte": "executorch", "ncnn": "ncnn"}


@pytest.mark.parametrize("fmt, module, loader, engine, blocked", BUNDLES, ids=[b[0] for b in BUNDLES])
def test_mobile_bundle_runs_without_edgecnn_and_agrees_with_the_host(prototypes, tmp_path, fmt, module, loader,
                                                                      engine, blocked):
    import subprocess

    from edgecnn.data.datasets import load_images
    from edgecnn.engines import load_runner
    from edgecnn.evaluate import evaluate
    from edgecnn.export import export_model

    need(module)
    root, loaded, photos, prototype_names = prototypes
    model = tmp_path / f"proto{SUFFIXES[fmt]}"
    export_model(loaded, model, format=fmt)
    bundle = tmp_path / "b"
    result = _cli("bundle", model, "-o", bundle)
    assert result.exit_code == 0, result.output
    assert (bundle / f"model{SUFFIXES[fmt]}").exists() and REQUIREMENTS[fmt] in (bundle / "requirements.txt").read_text()
    if fmt == "ncnn":  # the weights travel with the graph, and the manifest covers them
        assert (bundle / "model.bin").read_bytes() == model.with_suffix(".bin").read_bytes()
        assert "model.bin" in (bundle / "manifest.sha256").read_text()
    assert "onnxruntime" not in (bundle / "requirements.txt").read_text()
    config = json.loads((bundle / "preprocess.json").read_text())
    assert config["engine"] == loader and config["results_engine"] == engine
    done = subprocess.run([sys.executable, "-c", _without(blocked), str(bundle / "infer.py"), str(photos), "--json",
                           "--threads", "1"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {os.path.realpath(r["image"]): r for r in map(json.loads, done.stdout.splitlines())}
    images = load_images(photos)
    host = evaluate(load_runner(model, threads=1), images, batch_size=1)
    assert len(rows) == len(images) == 40
    same = sum(rows[os.path.realpath(name)]["top"][0]["index"] == host.predictions[i]
               for i, name in enumerate(images.names))
    assert same == 40, f"{same} of 40 predictions agree with edgecnn's {engine} engine on the same file"
    for name in prototype_names:  # each class's prototype photo is its class, by construction
        assert rows[os.path.realpath(name)]["top"][0]["label"] == os.path.basename(os.path.dirname(name))


def test_int8_tflite_with_val_scores_pytorch_fp32_and_the_file_on_the_same_images(tmp_path):
    """--val: the task's metric of the checkpoint (PyTorch FP32) and of the INT8 file, paired image by image (the
    figures of a one-epoch model are not asserted, only that both were scored on the same images)."""
    import edgecnn
    from edgecnn.quantize import quantize_model

    need("litert_torch")
    edgecnn.train("lenet5", "synthetic:shapes:48", tmp_path / "run", epochs=1, workers=0)
    checkpoint = tmp_path / "run" / "best.pt"
    outcome = quantize_model(checkpoint, tmp_path / "m.tflite", calib="synthetic:shapes:48", placed_for="litert",
                             samples=8, val="synthetic:shapes:32", speed=False)
    accuracy = outcome.accuracy
    assert accuracy["metric"] == "top-1" and accuracy["images"] == 32 and accuracy["fp32_on"] == "torch"
    assert 0 <= accuracy["fp32_top1"] <= 1 and 0 <= accuracy["int8_top1"] <= 1
    difference = accuracy["difference"]
    assert difference["images"] == 32 and len(difference["interval_points"]) == 2
    assert difference["a_only"] + difference["b_only"] <= 32
    with pytest.raises(UsageError, match="trained weights"):  # a zoo name is built anew (random) for each use
        quantize_model("lenet5", tmp_path / "z.tflite", calib="synthetic:shapes:48", placed_for="litert", samples=8,
                       val="synthetic:shapes:32", speed=False)
    assert not (tmp_path / "z.tflite").exists()  # refused before anything was made


MOBILE_RECIPE = """
name: mobile
model: {arch: lenet5}
data: {path: "synthetic:shapes:48", val_split: 0.25, seed: 0}
train: {enabled: false}
quantize: {samples: 8}
targets:
  - {engine: ort, precisions: [fp32], batches: [1], threads: 1}
  - {engine: litert, precisions: [fp32, fp16, int8], batches: [1], threads: 1}
  - {engine: executorch, precisions: [fp32], batches: [1], threads: 1}
profile: {warmup_s: 0.02, min_runs: 5, min_time_s: 0.05}
"""


def test_a_recipe_makes_profiles_and_reports_the_mobile_files(tmp_path, monkeypatch):
    """targets on litert and executorch: the .tflite / .pte made from the checkpoint (INT8 by PT2E), profiled beside
    ONNX Runtime, with the delegation line in the report (lenet5's masked C3 falls back on ExecuTorch), cached."""
    from edgecnn.recipe import load_recipe
    from edgecnn.recipe.pipeline import run_recipe

    need("executorch.runtime")
    need("litert_torch")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mobile.yaml").write_text(MOBILE_RECIPE)
    run = run_recipe(load_recipe(tmp_path / "mobile.yaml"), runs_dir=tmp_path / "runs", progress=False,
                     log=lambda _: None)
    assert not run.failed, [(s.name, s.message) for s in run.failed]
    names = {s.name for s in run.stages}
    assert {"export-tflite", "quantize-int8-tflite", "export-pte", "profile-litert-int8"} <= names
    assert "quantize-int8" not in names  # no target runs the ONNX INT8
    artifacts = run.run_dir / "artifacts"
    assert {"model_fp32.tflite", "model_int8.tflite", "model_fp32.pte", "model_fp32.pte.json"} <= \
        {p.name for p in artifacts.iterdir()}
    results = json.loads((run.run_dir / "results.json").read_text())
    rows = {(r["engine"], r["precision"]): r for r in results["rows"]}
    assert set(rows) == {("ort", "fp32"), ("litert", "fp32"), ("litert", "fp16"), ("litert", "int8"),
                         ("executorch", "fp32")}
    assert "quantize-fp16-tflite" in names and (artifacts / "model_fp16.tflite").is_file()
    assert all(r["p50_ms"] > 0 for r in rows.values())
    assert rows[("ort", "fp32")].get("delegation") is None
    executorch = rows[("executorch", "fp32")]["delegation"]
    assert "fall back" in executorch and "aten_convolution_default" in executorch  # C3's masked convolution
    assert rows[("litert", "fp32")]["delegation"].startswith("XNNPACK runs")
    profile = json.loads((run.run_dir / "profiles" / "litert-int8.json").read_text())
    assert profile["precision"] == "int8" and profile["delegation"]["partitions"] >= 1
    report = (run.run_dir / "report.md").read_text()
    delegation = report.split("## Delegation", 1)[1].split("##", 1)[0]
    assert "executorch fp32 (model_fp32.pte): XNNPACK runs" in delegation
    assert "litert int8 (model_int8.tflite)" in delegation
    assert any(results["best"][d]["engine"] in {"ort", "litert", "executorch"} for d in results["best"])
    again = run_recipe(load_recipe(tmp_path / "mobile.yaml"), runs_dir=tmp_path / "runs", progress=False,
                       log=lambda _: None)
    assert {s.name: s.status for s in again.stages if s.name != "report"} == \
        {name: "cached" for name in names if name != "report"}
    assert (again.run_dir / "artifacts" / "model_fp32.pte.json").is_file()  # the sidecar comes with the cached .pte


def _float_weights(path) -> int:
    """How many float32 tensors of rank 4 (convolution weights and their activations) a .tflite holds."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_path=str(path)).get_tensor_details()
    return sum(1 for d in details if d["dtype"] == np.float32 and len(d["shape"]) == 4)


def test_layers_kept_in_float_are_float_in_the_file(tmp_path):
    """keep_float leaves those layers' operators out of PT2E: the .tflite holds their convolutions in float32."""
    import torch

    from edgecnn.quantize.mobile import fallback_order, quantize_loaded
    from edgecnn.quantize.options import QuantizeOptions
    from edgecnn.zoo import create_model

    need("litert_torch")
    torch.manual_seed(0)
    loaded = create_model("mobilenet_v1_025", input_size=32, num_classes=5)
    order = fallback_order(loaded.model)
    convs = [n for n, m in loaded.model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    assert order[0] == convs[0] and isinstance(loaded.model.get_submodule(order[1]), torch.nn.Linear)
    options = QuantizeOptions(placed_for="litert", samples=8)
    kept = tmp_path / "kept.tflite"
    report = quantize_loaded(loaded, kept, "synthetic:shapes", options, keep_float=order[:3])
    assert _float_weights(kept) > 0  # a plain INT8 file holds none (test_int8_is_calibrated_like_onnx_and_says_so)
    from edgecnn.export.tflite import read_tflite_metadata

    assert read_tflite_metadata(kept).export["kept_float"] == order[:3] and report.precision == "int8"


def test_a_mobile_accuracy_budget_keeps_layers_in_float_until_it_is_met(tmp_path, monkeypatch):
    """The budget's steps on a real .tflite each time (calibrated, lowered, scored on the same images); the metric
    is made to miss until a layer is in float (a trained model's drop cannot be counted on in a test), so the
    steps, the best file written and its record are what is checked."""
    import torch

    import edgecnn.quantize.mobile as mobile
    from edgecnn.export.tflite import read_tflite_metadata
    from edgecnn.zoo import create_model
    from edgecnn.zoo.weights import save_checkpoint

    need("litert_torch")
    torch.manual_seed(0)
    loaded = create_model("mobilenet_v1_025", input_size=32, num_classes=8)
    checkpoint = tmp_path / "m.pt"
    data = "synthetic:shapes:48"
    from edgecnn.tasks.registry import get_task

    classes = get_task(loaded.spec.task).function("reader")(data, resize=loaded.preprocess.resize, side=32,
                                                             seed=0).classes
    save_checkpoint(checkpoint, loaded.model, arch=loaded.spec.name, classes=classes, input_size=loaded.input_size,
                    preprocess=loaded.preprocess.to_dict())
    real = mobile._scorer

    def missing_until_a_layer_is_float(*args, **kwargs):
        scorer = real(*args, **kwargs)
        value = scorer.value

        class Penalised:
            def __getattr__(self, name):
                return getattr(scorer, name)

            def value(self, items):
                k = getattr(items, "edgecnn_k", None)
                return value(items) - (0.10 if k is not None and k < 1 else 0.0)

            def items(self, path):
                found = scorer.items(path)
                name = os.path.basename(str(path))
                if name.startswith("k"):  # a budget candidate, k{layers in float}.tflite
                    found = _tagged(found, int(name[1:].split(".")[0]))
                return found

        return Penalised()

    monkeypatch.setattr(mobile, "_scorer", missing_until_a_layer_is_float)
    loaded = create_model(str(checkpoint))
    out = tmp_path / "budget.tflite"
    from edgecnn.quantize.options import QuantizeOptions

    options = QuantizeOptions(placed_for="litert", samples=8, max_drop=1.0)
    report = mobile.quantize_mobile_with_budget(loaded, str(checkpoint), str(out), data, options, data, 0.25)
    assert [s["excluded"] for s in report.steps] == [0, 1]
    assert report.met and report.method == "ptq+fallback" and len(report.kept_float) == 1
    assert report.steps[0]["drop"] >= 10 - 1e-6 and report.final_drop <= 1.0
    assert read_tflite_metadata(out).export["kept_float"] == report.kept_float
    assert report.quantize["path"] == str(out) and 0 < report.images < 48  # the validation side only


class _Tagged(np.ndarray):
    """Per-image scores, tagged with the number of layers the candidate kept in float."""


def _tagged(items, k: int) -> _Tagged:
    tagged = np.asarray(items).view(_Tagged)
    tagged.edgecnn_k = k
    return tagged


@pytest.mark.parametrize("fmt, suffix", [("pte", ".pte"), ("tflite", ".tflite")])
def test_bundle_per_layer_is_the_runtimes_own_timer(lenet, tmp_path, fmt, suffix):
    """infer.py --profile --per-layer on a .pte bundle: ExecuTorch's ETDump, per XNNPACK operator (the rows edgecnn
    profile --per-layer gives on the host); on a .tflite bundle a warning that LiteRT's Python API has none."""
    import subprocess

    _, folder, _ = lenet
    bundle = tmp_path / "b"
    assert _cli("bundle", folder / f"lenet5{suffix}", "-o", bundle).exit_code == 0
    done = subprocess.run([sys.executable, str(bundle / "infer.py"), "--profile", "--per-layer", "--threads", "1",
                           "--min-runs", "5", "--min-time-s", "0.05", "--warmup-s", "0", "--results",
                           str(tmp_path / "device.json")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    row = json.loads((tmp_path / "device.json").read_text())["rows"][0]
    if fmt == "pte":
        ops = {r["op"] for r in row["per_layer"]}
        assert any(op.startswith("Convolution (NHWC, F32)") for op in ops), ops
        assert all(r["mean_ms"] >= 0 for r in row["per_layer"]) and not {"DELEGATE_CALL", "Method::execute"} & ops
    else:
        assert "per_layer" not in row
        assert any("no per-layer times from ai_edge_litert" in w for w in row["warnings"]), row["warnings"]
